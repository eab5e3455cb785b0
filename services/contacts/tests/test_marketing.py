"""Marketing events: the rules without a database, then the API against a real PostgreSQL (rolled back)."""

import json
import uuid
from datetime import date

import pytest

from mercator.common.testing.api import caller
from mercator.contacts import domain
from mercator.contacts.domain import MarketingEventKind as K
from mercator.contacts.domain import ParticipantStatus as P

# --- rules -----------------------------------------------------------------------------------


def test_an_event_cannot_end_before_it_starts():
    domain.check_event_dates(date(2026, 3, 1), date(2026, 3, 1))
    with pytest.raises(domain.InvalidValue) as e:
        domain.check_event_dates(date(2026, 3, 2), date(2026, 3, 1))
    assert e.value.field == "ends_on"


def test_a_participant_moves_forward_and_never_back_to_invited():
    assert domain.check_participant_status(K.EXHIBITION, P.INVITED, P.ATTENDED)
    assert domain.check_participant_status(K.EXHIBITION, P.ATTENDED, P.RESPONDED)
    assert not domain.check_participant_status(K.EXHIBITION, P.ATTENDED, P.ATTENDED)
    with pytest.raises(domain.RuleViolation) as e:
        domain.check_participant_status(K.EXHIBITION, P.RESPONDED, P.INVITED)
    assert e.value.rule == "participant_status_back"
    with pytest.raises(domain.RuleViolation, match="mailing"):
        domain.check_participant_status(K.MAILING, P.INVITED, P.ATTENDED)


def test_a_mailing_goes_once_to_each_contact_person_with_an_e_mail():
    a, b = uuid.uuid4(), uuid.uuid4()
    contacts = [
        domain.MailingContact(a, uuid.uuid4(), "Иван", ("ivan@a.ru", "ivan2@a.ru")),
        domain.MailingContact(a, uuid.uuid4(), "Без почты", ()),
        domain.MailingContact(b, uuid.uuid4(), "Пётр", ("shared@b.ru",)),
        domain.MailingContact(b, uuid.uuid4(), "Павел", ("shared@b.ru",)),
    ]
    chosen = domain.mailing_recipients(K.MAILING, contacts)
    assert sorted(c.emails[0] for c in chosen) == ["ivan@a.ru", "shared@b.ru"]
    with pytest.raises(domain.RuleViolation, match=r"no_recipients|e-mail"):
        domain.mailing_recipients(K.MAILING, contacts[1:2])
    with pytest.raises(domain.RuleViolation) as e:
        domain.mailing_recipients(K.WEBINAR, contacts)
    assert e.value.rule == "not_a_mailing"


# --- API -------------------------------------------------------------------------------------

pg = pytest.mark.postgres


@pytest.fixture
def marketer():
    return caller("Ольга Маркетолог", roles=("marketing",))


@pytest.fixture
async def mk(api_as, marketer):
    async with api_as(marketer) as c:
        yield c


async def dictionary(api, path, name):
    return next(e["id"] for e in (await api.get(f"/api/v1/{path}")).json() if e["name"] == name)


async def card(api, name, **fields):
    r = await api.post("/api/v1/companies", json={"name": name, **fields})
    assert r.status_code == 201, r.text
    return r.json()


async def new_event(mk, **fields):
    body = {
        "name": "Выставка «Металлообработка-2026»",
        "kind": "exhibition",
        "starts_on": "2026-05-20",
        "ends_on": "2026-05-23",
        "cost": "450000.00",
        "currency": "RUB",
        **fields,
    }
    r = await mk.post("/api/v1/marketing-events", json=body)
    assert r.status_code == 201, r.text
    return r.json()


@pg
async def test_marketing_plans_an_event_and_edits_it_with_its_etag(mk, app, marketer, published):
    event = await new_event(mk)
    assert event["organiser_id"] == str(marketer.user_id)
    assert event["cost"] == "450000.00"
    assert event["participants"] == {"invited": 0, "attended": 0, "responded": 0}
    url = f"/api/v1/marketing-events/{event['id']}"
    r = await mk.patch(url, json={"cost": "500000.00"}, headers={"If-Match": '"1"'})
    assert r.status_code == 200, r.text
    assert r.json()["cost"] == "500000.00" and r.headers["etag"] == '"2"'
    stale = await mk.patch(url, json={"name": "Другое"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert (await mk.get(url)).json()["name"] == "Выставка «Металлообработка-2026»"
    sent = await published("MarketingEventCreated", "MarketingEventUpdated")
    assert [e.type for e in sent] == ["MarketingEventCreated", "MarketingEventUpdated"]
    assert sent[1].data["changed"] == ["cost"] and sent[1].data["cost"] == "500000.00"


@pg
async def test_bad_event_input_is_refused_naming_the_field_and_changes_nothing(mk, app, published):
    for body, field in (
        (dict(ends_on="2026-05-01"), "ends_on"),
        (dict(cost="-1"), "cost"),
        (dict(kind="picnic"), "kind"),
        (dict(cost=12.5), "cost"),
    ):
        r = await mk.post(
            "/api/v1/marketing-events", json={"name": "X", "kind": "exhibition", "starts_on": "2026-05-20", **body}
        )
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert field in json.dumps(r.json()["errors"]), r.text
    assert (await mk.get("/api/v1/marketing-events")).json()["items"] == []
    assert await published("MarketingEventCreated") == []


@pg
async def test_a_manager_reads_events_but_cannot_run_them(api, mk):
    await new_event(mk)
    assert len((await api.get("/api/v1/marketing-events")).json()["items"]) == 1
    r = await api.post("/api/v1/marketing-events", json={"name": "Моё", "kind": "webinar", "starts_on": "2026-05-20"})
    assert r.status_code == 403


@pg
async def test_participants_by_hand_and_from_a_saved_filter_each_once(api, mk, app, published):
    ural = await dictionary(api, "regions", "Москва")
    cards = [await card(api, f"Завод №{i}", region_id=ural if i < 3 else None) for i in range(5)]
    event = await new_event(mk)
    url = f"/api/v1/marketing-events/{event['id']}/participants"
    r = await mk.post(url, json={"company_ids": [cards[4]["id"]]})
    assert r.json() == {"added": 1, "already": 0}
    r = await mk.post(url, json={"filter": {"region_id": ural}, "company_ids": [cards[4]["id"]]})
    assert r.json() == {"added": 3, "already": 1}
    got = (await mk.get(f"/api/v1/marketing-events/{event['id']}")).json()
    assert got["participants"]["invited"] == 4
    assert got["audience_filter"] == {"region_id": ural}
    listed = (await mk.get(url)).json()["items"]
    assert sorted(p["company_name"] for p in listed) == ["Завод №0", "Завод №1", "Завод №2", "Завод №4"]
    added = await published("ParticipantAdded")
    assert sorted(p["company_id"] for p in (e.data for e in added)) == sorted(
        c["id"] for c in cards if c is not cards[3]
    )
    # One aggregate, one order: every event of it carries the next sequence.
    seqs = [int(e.headers["ce_sequence"]) for e in await published("MarketingEventCreated", "ParticipantAdded")]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)

    missing = await mk.post(url, json={"company_ids": [str(uuid.uuid4())]})
    assert missing.status_code == 422 and "company_ids[0]" in missing.text
    empty = await mk.post(url, json={})
    assert empty.status_code == 422


@pg
async def test_participant_status_changes_and_cannot_go_back(api, mk, app, published):
    c = await card(api, "Прогресс")
    event = await new_event(mk)
    base = f"/api/v1/marketing-events/{event['id']}/participants"
    await mk.post(base, json={"company_ids": [c["id"]]})
    r = await mk.patch(f"{base}/{c['id']}", json={"status": "attended"})
    assert r.status_code == 200 and r.json()["status"] == "attended"
    back = await mk.patch(f"{base}/{c['id']}", json={"status": "invited"})
    assert back.status_code == 422 and back.json()["rule"] == "participant_status_back"
    changed = await published("ParticipantStatusChanged")
    assert [(p["from_status"], p["to_status"]) for p in (e.data for e in changed)] == [("invited", "attended")]
    stranger = await mk.patch(f"{base}/{uuid.uuid4()}", json={"status": "attended"})
    assert stranger.status_code == 404


@pg
async def test_a_mailing_is_requested_with_the_contact_persons_of_every_participant(api, mk, app, published):
    a = await card(
        api,
        "Альфа",
        persons=[{"name": "Иван", "emails": ["ivan@alfa.ru"]}, {"name": "Без почты", "phones": ["+7 916 123 45 67"]}],
    )
    b = await card(api, "Бета", persons=[{"name": "Мария", "emails": ["Maria@beta.ru"]}])
    await card(api, "Не участник", persons=[{"name": "Никто", "emails": ["x@none.ru"]}])
    event = await new_event(
        mk,
        name="Весенняя рассылка",
        kind="mailing",
        ends_on=None,
        offer="Скидка 15% до конца мая",
        template_id=str(uuid.uuid4()),
    )
    await mk.post(f"/api/v1/marketing-events/{event['id']}/participants", json={"company_ids": [a["id"], b["id"]]})
    r = await mk.post(f"/api/v1/marketing-events/{event['id']}/mailings", json={})
    assert r.status_code == 202, r.text
    assert r.json()["recipients"] == 2
    [mailing] = await published("MailingRequested")
    payload = mailing.data
    assert payload["offer"] == "Скидка 15% до конца мая"
    assert payload["template_id"] == event["template_id"]
    assert sorted((x["email"], x["company_id"]) for x in payload["recipients"]) == [
        ("ivan@alfa.ru", a["id"]),
        ("maria@beta.ru", b["id"]),
    ]

    show = await new_event(mk)
    await mk.post(f"/api/v1/marketing-events/{show['id']}/participants", json={"company_ids": [a["id"]]})
    r = await mk.post(f"/api/v1/marketing-events/{show['id']}/mailings", json={"offer": "x"})
    assert r.status_code == 422 and r.json()["rule"] == "not_a_mailing"
    assert len(await published("MailingRequested")) == 1


@pg
async def test_a_manager_sees_only_their_own_participants(api, mk, api_as):
    mine = await card(api, "Моя карточка")
    other = caller("Другой менеджер")
    async with api_as(other) as them:
        theirs = await card(them, "Чужая карточка")
    event = await new_event(mk)
    await mk.post(
        f"/api/v1/marketing-events/{event['id']}/participants", json={"company_ids": [mine["id"], theirs["id"]]}
    )
    seen = (await api.get(f"/api/v1/marketing-events/{event['id']}/participants")).json()["items"]
    assert [p["company_name"] for p in seen] == ["Моя карточка"]
    assert (await api.get(f"/api/v1/marketing-events/{event['id']}")).json()["participants"]["invited"] == 1


@pg
async def test_a_status_a_participant_has_already_changes_nothing_and_answers_the_participant(api, mk, published):
    c = await card(api, "Постоянство")
    event = await new_event(mk)
    base = f"/api/v1/marketing-events/{event['id']}/participants"
    await mk.post(base, json={"company_ids": [c["id"]]})
    r = await mk.patch(f"{base}/{c['id']}", json={"status": "invited"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "invited" and r.json()["company_name"] == "Постоянство"
    assert await published("ParticipantStatusChanged") == []
