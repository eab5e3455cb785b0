"""Identity through the API against a real PostgreSQL; every test's writes are rolled back."""

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import jwt
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from starlette.requests import Request

from mercator.common.auth import Caller, mint_token
from mercator.common.errors import InvalidValue
from mercator.common.testing.kit import published
from mercator.gateway import audit, passwords, tokens, users
from mercator.gateway.tables import AuditEntry, User

pytestmark = pytest.mark.postgres
PASSWORD = "Correct-horse-42"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def request(headers: dict[str, str]) -> Request:
    return Request({"type": "http", "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]})


async def refresh(anon, token: str):
    return await anon.post("/api/v1/auth/refresh", json={"refresh_token": token})


# --- signing in --------------------------------------------------------------------------------------


async def test_sign_in_answers_an_oauth2_token_response_that_opens_me(anon, make_user, sign_in):
    user = await make_user("anna@mercator.test")
    r = await sign_in("  Anna@Mercator.TEST ")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 15 * 60
    assert r.headers["cache-control"] == "no-store"
    # Only a browser that asks gets its refresh token as a cookie (tests/security); partners and the mobile
    # app keep the answer they always had.
    assert "set-cookie" not in r.headers
    me = await anon.get("/api/v1/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json() | {} == {
        "id": str(user.id),
        "name": "Анна Петрова",
        "email": "anna@mercator.test",
        "roles": ["manager"],
        "department_id": None,
        "scopes": None,
        "api_key_id": None,
    }


async def test_unknown_user_wrong_password_and_inactive_user_get_the_same_answer_for_the_same_work(
    app, anon, make_user, sign_in, monkeypatch
):
    checks = []

    class Counting(PasswordHasher):
        def verify(self, hash, password):
            checks.append(hash)
            return super().verify(hash, password)

    monkeypatch.setattr(passwords, "HASHER", Counting(time_cost=1, memory_cost=8, parallelism=1))
    await make_user("anna@mercator.test")
    gone = await make_user("ivan@mercator.test", password="Ivan-password-1")
    async with app.state.runtime.sessionmaker() as s:
        (await s.get(User, gone.id)).active = False
        await s.commit()
    answers = [
        await sign_in("anna@mercator.test", "Wrong-password-1"),
        await sign_in("nobody@mercator.test"),
        await sign_in("not an e-mail"),
        await sign_in("ivan@mercator.test", "Ivan-password-1"),
    ]
    assert {r.status_code for r in answers} == {401}
    assert len({json.dumps(r.json(), sort_keys=True) for r in answers}) == 1
    assert len({r.headers["www-authenticate"] for r in answers}) == 1
    assert "wrong" in answers[0].json()["detail"]
    assert len(checks) == 4  # an argon2 check every time: a dummy hash stands in for the missing user


async def test_a_form_without_password_is_invalid(anon):
    r = await anon.post("/api/v1/auth/token", data={"username": "anna@mercator.test"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "password"
    r = await anon.post("/api/v1/auth/token", data={"username": "a@b.ru", "password": "x", "grant_type": "code"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "grant_type"


# --- refresh tokens ----------------------------------------------------------------------------------


async def test_refresh_rotates_and_a_reused_token_revokes_its_whole_chain(anon, make_user, sign_in):
    await make_user("anna@mercator.test")
    first = (await sign_in("anna@mercator.test")).json()
    second = await refresh(anon, first["refresh_token"])
    assert second.status_code == 200, second.text
    assert "set-cookie" not in second.headers
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await anon.get("/api/v1/me", headers=bearer(second["access_token"]))).status_code == 200
    third = (await refresh(anon, second["refresh_token"])).json()

    # The first token comes back (somebody copied it): refused, and so is everything issued after it.
    reused = await refresh(anon, first["refresh_token"])
    assert reused.status_code == 401 and "invalid_grant" in reused.headers["www-authenticate"]
    assert (await refresh(anon, third["refresh_token"])).status_code == 401
    # Another sign-in is another chain: untouched.
    other = (await sign_in("anna@mercator.test")).json()
    assert (await refresh(anon, other["refresh_token"])).status_code == 200


async def test_unknown_and_expired_refresh_tokens_are_refused(app, anon, make_user, sign_in):
    await make_user("anna@mercator.test")
    tokens = (await sign_in("anna@mercator.test")).json()
    assert (await refresh(anon, "made-up")).status_code == 401
    async with app.state.runtime.sessionmaker() as s:
        from mercator.gateway.tables import RefreshToken

        row = await s.scalar(select(RefreshToken))
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        await s.commit()
    assert (await refresh(anon, tokens["refresh_token"])).status_code == 401


async def test_logout_spends_the_refresh_token(anon, make_user, sign_in):
    await make_user("anna@mercator.test")
    tokens = (await sign_in("anna@mercator.test")).json()
    r = await anon.post("/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 204
    assert (await refresh(anon, tokens["refresh_token"])).status_code == 401
    assert (await anon.post("/api/v1/auth/logout", json={"refresh_token": "unknown"})).status_code == 204


async def test_deactivation_and_a_new_password_end_the_sessions(admin_api, anon, make_user, sign_in):
    anna = await make_user("anna@mercator.test")
    ivan = await make_user("ivan@mercator.test")
    anna_tokens = (await sign_in("anna@mercator.test")).json()
    ivan_tokens = (await sign_in("ivan@mercator.test")).json()
    r = await admin_api.patch(f"/api/v1/users/{anna.id}", json={"active": False}, headers={"If-Match": '"1"'})
    assert r.status_code == 200, r.text
    r = await admin_api.patch(
        f"/api/v1/users/{ivan.id}", json={"password": "New-password-2"}, headers={"If-Match": '"1"'}
    )
    assert r.status_code == 200, r.text
    assert (await refresh(anon, anna_tokens["refresh_token"])).status_code == 401
    assert (await refresh(anon, ivan_tokens["refresh_token"])).status_code == 401
    assert (await sign_in("anna@mercator.test")).status_code == 401
    assert (await sign_in("ivan@mercator.test")).status_code == 401
    assert (await sign_in("ivan@mercator.test", "New-password-2")).status_code == 200


# --- access tokens ----------------------------------------------------------------------------------


async def test_only_a_valid_public_access_token_opens_the_door(anon, make_user, settings, sign_in):
    user = await make_user("anna@mercator.test")
    good = (await sign_in("anna@mercator.test")).json()["access_token"]
    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raised = base64.urlsafe_b64encode(json.dumps(claims | {"roles": ["admin"]}).encode()).decode().rstrip("=")
    now = datetime.now(UTC)
    base = {
        "sub": str(user.id),
        "name": "x",
        "roles": ["admin"],
        "iss": settings.token_issuer,
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }
    refused = {
        "expired": tokens.mint_access_token(settings, user, at=now - timedelta(minutes=16)),
        "tampered": f"{header}.{raised}.{signature}",
        "wrong signature": jwt.encode(
            base | {"aud": settings.public_audience}, "another-secret-0123456789abcdef-0123", algorithm="HS256"
        ),
        "wrong audience": jwt.encode(
            base | {"aud": settings.token_audience}, settings.public_token_secret, algorithm="HS256"
        ),
        "unsigned": jwt.encode(base | {"aud": settings.public_audience}, None, algorithm="none"),
        # What the gateway forwards to services is no key to the gateway itself.
        "internal service token": mint_token(settings, Caller(user.id, "Анна", frozenset({"admin"}))),
        "garbage": "not-a-jwt",
    }
    assert (await anon.get("/api/v1/me", headers=bearer(good))).status_code == 200
    for what, token in refused.items():
        r = await anon.get("/api/v1/me", headers=bearer(token))
        assert r.status_code == 401, what
        assert r.headers["content-type"] == "application/problem+json", what
        assert r.headers["www-authenticate"].startswith("Bearer"), what
    assert "expired" in (await anon.get("/api/v1/me", headers=bearer(refused["expired"]))).json()["detail"]
    for headers in [
        {},
        {"Authorization": "Basic YW5uYTpwdw=="},
        {"Authorization": f"Bearer {good}", "X-API-Key": "mk_x"},
    ]:
        r = await anon.get("/api/v1/me", headers=headers)
        assert r.status_code == 401 and "www-authenticate" in r.headers, headers


def test_an_access_token_carries_who_and_where(settings):
    dept = uuid.uuid4()
    user = SimpleNamespace(id=uuid.uuid4(), name="Анна", roles=["manager", "head"], department_id=dept)
    caller = tokens.read_access_token(settings, tokens.mint_access_token(settings, user))
    assert caller == Caller(user.id, "Анна", frozenset({"manager", "head"}), dept)


# --- partner API keys --------------------------------------------------------------------------------


async def test_an_api_key_is_shown_once_works_with_its_scopes_and_dies_when_revoked(admin_api, anon, app, settings):
    r = await admin_api.post("/api/v1/api-keys", json={"name": "ERP", "scopes": ["read:deals", "write:history"]})
    assert r.status_code == 201, r.text
    created = r.json()
    key = created["key"]
    assert key.startswith(f"mk_{created['key_id']}_") and r.headers["cache-control"] == "no-store"
    listed = (await admin_api.get("/api/v1/api-keys")).json()["items"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0] and "secret_hash" not in listed[0] and key.split("_", 2)[2] not in json.dumps(listed)

    me = await anon.get("/api/v1/me", headers={"X-API-Key": key})
    assert me.status_code == 200, me.text
    assert me.json()["roles"] == ["partner"] and me.json()["scopes"] == ["read:deals", "write:history"]
    principal = await tokens.authenticate(request({"X-API-Key": key}), app.state.runtime.sessionmaker, settings)
    assert principal.caller.user_id == principal.api_key_id == uuid.UUID(created["id"])
    assert principal.caller.roles == frozenset({"partner"})
    assert principal.scopes == frozenset({"read:deals", "write:history"})
    assert principal.allows("read:deals") and not principal.allows("write:deals")
    used = (await admin_api.get("/api/v1/api-keys")).json()["items"][0]
    assert used["last_used_at"] is not None

    wrong_secret = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    assert (await anon.get("/api/v1/me", headers={"X-API-Key": wrong_secret})).status_code == 401
    assert (await anon.get("/api/v1/me", headers={"X-API-Key": "mk_nonsense"})).status_code == 401
    # Partners are not admins.
    assert (await anon.get("/api/v1/users", headers={"X-API-Key": key})).status_code == 403

    r = await admin_api.post(f"/api/v1/api-keys/{created['id']}/revoke")
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    assert (await anon.get("/api/v1/me", headers={"X-API-Key": key})).status_code == 401
    assert (await admin_api.get("/api/v1/api-keys")).json()["items"] == []
    assert len((await admin_api.get("/api/v1/api-keys?include_revoked=true")).json()["items"]) == 1


async def test_an_api_key_needs_known_scopes(admin_api):
    r = await admin_api.post("/api/v1/api-keys", json={"name": "ERP", "scopes": ["read:everything"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "scopes"


async def test_a_person_has_no_scopes(app, make_user, settings):
    user = await make_user("anna@mercator.test")
    principal = await tokens.authenticate(
        request(bearer(tokens.mint_access_token(settings, user))), app.state.runtime.sessionmaker, settings
    )
    assert principal.scopes is None and principal.api_key_id is None and principal.allows("write:deals")


# --- the first admin ---------------------------------------------------------------------------------


async def test_the_first_admin_comes_from_settings_once_and_never_with_a_default_password(app, settings, sign_in):
    assert type(settings).model_fields["admin_password"].default is None
    async with app.state.runtime.uow() as uow:
        assert await users.ensure_first_admin(uow, settings) is False  # nothing set: nothing made
    async with app.state.runtime.sessionmaker() as s:
        assert (await s.scalar(select(User.id))) is None
    weak = settings.model_copy(update={"admin_email": "root@mercator.test", "admin_password": "admin"})
    async with app.state.runtime.uow() as uow:
        with pytest.raises(InvalidValue) as e:
            await users.ensure_first_admin(uow, weak)
    assert e.value.field == "admin_password"

    good = settings.model_copy(update={"admin_email": "Root@Mercator.test", "admin_password": "Str0ng-enough!"})
    async with app.state.runtime.uow() as uow:
        assert await users.ensure_first_admin(uow, good) is True
        await uow.commit()  # as the start-up job does
    async with app.state.runtime.uow() as uow:
        assert await users.ensure_first_admin(uow, good) is False
    async with app.state.runtime.sessionmaker() as s:
        admins = (await s.execute(select(User))).scalars().all()
    assert [(u.email, u.roles, u.name) for u in admins] == [("root@mercator.test", ["admin"], "Administrator")]
    assert (await sign_in("root@mercator.test", "Str0ng-enough!")).status_code == 200
    assert [e.type for e in await published(app)] == ["UserCreated"]


async def test_with_no_active_admin_left_the_named_user_becomes_one_again(app, settings, make_user, sign_in):
    anna = await make_user("anna@mercator.test")
    good = settings.model_copy(update={"admin_email": "anna@mercator.test", "admin_password": "Back-in-again-1"})
    async with app.state.runtime.uow() as uow:
        assert await users.ensure_first_admin(uow, good) is True
        await uow.commit()  # as the start-up job does
    async with app.state.runtime.sessionmaker() as s:
        row = await s.get(User, anna.id)
    assert row.roles == ["admin", "manager"] and row.version == 2
    assert (await sign_in("anna@mercator.test", "Back-in-again-1")).status_code == 200


# --- admin: users and departments ----------------------------------------------------------------------


async def test_admin_endpoints_are_for_admins(app, anon, make_user, sign_in):
    await make_user("anna@mercator.test")
    token = (await sign_in("anna@mercator.test")).json()["access_token"]
    some = uuid.uuid4()
    calls = [
        ("POST", "/api/v1/users", {"name": "X", "email": "x@y.ru", "password": PASSWORD, "roles": ["manager"]}),
        ("GET", "/api/v1/users", None),
        ("GET", f"/api/v1/users/{some}", None),
        ("PATCH", f"/api/v1/users/{some}", {"name": "Y"}),
        ("POST", "/api/v1/departments", {"name": "Sales"}),
        ("GET", "/api/v1/departments", None),
        ("PATCH", f"/api/v1/departments/{some}", {"name": "Y"}),
        ("POST", "/api/v1/api-keys", {"name": "ERP", "scopes": ["read:deals"]}),
        ("GET", "/api/v1/api-keys", None),
        ("POST", f"/api/v1/api-keys/{some}/revoke", None),
    ]
    for method, path, body in calls:
        r = await anon.request(method, path, json=body, headers=bearer(token))
        assert r.status_code == 403, (method, path, r.text)
        assert (await anon.request(method, path, json=body)).status_code == 401, (method, path)


async def test_every_signed_in_user_reads_who_is_who_without_e_mails_or_roles(admin_api, anon, make_user, sign_in):
    dept = (await admin_api.post("/api/v1/departments", json={"name": "Юг"})).json()["id"]
    boris = await make_user("boris@mercator.test", name="Борис Орлов", department_id=dept)
    await make_user("anna@mercator.test")
    token = (await sign_in("anna@mercator.test")).json()["access_token"]
    r = await anon.get("/api/v1/people", headers=bearer(token), params={"limit": 1000})
    assert r.status_code == 200, r.text
    people = {p["id"]: p for p in r.json()["items"]}
    assert people[str(boris.id)] == {"id": str(boris.id), "name": "Борис Орлов", "department_id": dept, "active": True}
    assert "anna@mercator.test" not in r.text and "boris@mercator.test" not in r.text and "manager" not in r.text
    assert (await anon.get("/api/v1/people")).status_code == 401
    bad = await anon.get("/api/v1/people", headers=bearer(token), params={"limit": 0})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"].endswith("limit"), bad.text


async def test_creating_a_user_emits_user_created_and_never_shows_a_password(admin_api, app):
    dept = (await admin_api.post("/api/v1/departments", json={"name": "Отдел продаж"})).json()
    r = await admin_api.post(
        "/api/v1/users",
        json={
            "name": "Анна Петрова",
            "email": "Anna@Mercator.test",
            "password": PASSWORD,
            "roles": ["manager", "head"],
            "department_id": dept["id"],
        },
    )
    assert r.status_code == 201, r.text
    user = r.json()
    assert r.headers["etag"] == '"1"' and r.headers["location"] == f"/api/v1/users/{user['id']}"
    assert user["email"] == "anna@mercator.test" and user["roles"] == ["head", "manager"]
    r = await admin_api.patch(
        f"/api/v1/users/{user['id']}", json={"name": "Анна Сидорова"}, headers={"If-Match": r.headers["etag"]}
    )
    assert r.status_code == 200 and r.headers["etag"] == '"2"'

    events = [e for e in await published(app) if e.subject == user["id"]]
    assert [(e.type, e.subject, e.headers["ce_sequence"]) for e in events] == [
        ("UserCreated", user["id"], "1"),
        ("UserUpdated", user["id"], "2"),
    ]
    assert events[0].data == {
        "user_id": user["id"],
        "name": "Анна Петрова",
        "email": "anna@mercator.test",
        "roles": ["head", "manager"],
        "department_id": dept["id"],
        "active": True,
    }
    assert events[1].data["changed"] == ["name"]

    texts = [
        r.text
        for r in [
            await admin_api.get("/api/v1/users"),
            await admin_api.get(f"/api/v1/users/{user['id']}"),
            await admin_api.get("/api/v1/me"),
        ]
    ] + [json.dumps(e.data) for e in await published(app)]
    for text in texts:
        assert PASSWORD not in text and "password" not in text and "$argon2" not in text


async def test_a_user_needs_a_strong_password_and_an_e_mail_of_their_own(admin_api, make_user):
    await make_user("anna@mercator.test")
    body = {"name": "Иван", "email": "ivan@mercator.test", "password": "short", "roles": ["manager"]}
    r = await admin_api.post("/api/v1/users", json=body)
    assert r.status_code == 422 and r.json()["rule"] == "weak_password"
    assert r.json()["errors"] == [{"field": "password", "message": r.json()["detail"]}]
    r = await admin_api.post("/api/v1/users", json=body | {"email": " ANNA@mercator.test", "password": PASSWORD})
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "email"
    r = await admin_api.post("/api/v1/users", json=body | {"password": PASSWORD, "roles": ["partner"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "roles"
    r = await admin_api.post("/api/v1/users", json=body | {"password": PASSWORD, "department_id": str(uuid.uuid4())})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "department_id"


async def test_a_nul_character_is_the_callers_422_not_the_databases_500(admin_api):
    """Found by test_fuzz: PostgreSQL text cannot hold U+0000."""
    user = {"name": "Иван\u0000", "email": "ivan@mercator.test", "password": PASSWORD, "roles": ["manager"]}
    for path, body, field in (
        ("/api/v1/users", user, "name"),
        ("/api/v1/users", user | {"name": "Иван", "email": "iv\u0000an@mercator.test"}, "email"),
        ("/api/v1/departments", {"name": "Продажи\u0000"}, "name"),
        ("/api/v1/api-keys", {"name": "\u00001С", "scopes": ["read:companies"]}, "name"),
    ):
        r = await admin_api.post(path, json=body)
        assert r.status_code == 422, (path, r.status_code, r.text)
        assert [e["field"] for e in r.json()["errors"]] == [field]


async def test_updates_name_the_version_they_were_made_against(admin_api, make_user):
    anna = await make_user("anna@mercator.test")
    path = f"/api/v1/users/{anna.id}"
    assert (await admin_api.patch(path, json={"name": "Анна"})).status_code == 428
    assert (await admin_api.patch(path, json={"name": "Анна"}, headers={"If-Match": '"7"'})).status_code == 412
    r = await admin_api.patch(
        path, json={"email": "ivan@mercator.test", "roles": ["support"]}, headers={"If-Match": '"1"'}
    )
    assert r.status_code == 200 and r.json()["roles"] == ["support"] and r.json()["version"] == 2


async def test_the_last_admin_cannot_step_down(admin_api):
    me = (await admin_api.get("/api/v1/me")).json()
    r = await admin_api.patch(f"/api/v1/users/{me['id']}", json={"roles": ["manager"]}, headers={"If-Match": '"1"'})
    assert r.status_code == 422 and r.json()["rule"] == "last_admin"


async def test_departments_form_a_tree_without_loops(admin_api, app, make_user):
    sales = (await admin_api.post("/api/v1/departments", json={"name": "Продажи"})).json()
    moscow = await admin_api.post("/api/v1/departments", json={"name": "Москва", "parent_id": sales["id"]})
    assert moscow.status_code == 201, moscow.text
    moscow = moscow.json()
    r = await admin_api.patch(
        f"/api/v1/departments/{sales['id']}", json={"parent_id": moscow["id"]}, headers={"If-Match": '"1"'}
    )
    assert r.status_code == 422 and r.json()["rule"] == "department_cycle"
    await make_user("anna@mercator.test", department_id=uuid.UUID(moscow["id"]))
    r = await admin_api.patch(f"/api/v1/departments/{sales['id']}", json={"active": False}, headers={"If-Match": '"1"'})
    assert r.status_code == 422 and r.json()["rule"] == "department_has_subdepartments"
    r = await admin_api.patch(
        f"/api/v1/departments/{moscow['id']}", json={"active": False}, headers={"If-Match": '"1"'}
    )
    assert r.status_code == 422 and r.json()["rule"] == "department_has_users"
    r = await admin_api.patch(
        f"/api/v1/departments/{moscow['id']}", json={"name": "Москва-1", "parent_id": None}, headers={"If-Match": '"1"'}
    )
    assert r.status_code == 200 and r.json()["parent_id"] is None and r.json()["version"] == 2
    changes = [(e.subject, e.headers["ce_sequence"], e.data) for e in await published(app, "DepartmentChanged")]
    assert changes[-1] == (
        moscow["id"],
        "2",
        {"department_id": moscow["id"], "name": "Москва-1", "parent_id": None, "active": True},
    )
    page = (await admin_api.get("/api/v1/departments?limit=1")).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = (await admin_api.get(f"/api/v1/departments?limit=1&cursor={page['next_cursor']}")).json()
    assert [d["name"] for d in page["items"] + rest["items"]] == ["Москва-1", "Продажи"]


# --- the audit log -------------------------------------------------------------------------------------


async def test_every_write_leaves_an_audit_row(admin_api, app, anon, make_user, sign_in):
    await make_user("anna@mercator.test")
    token = (await sign_in("anna@mercator.test")).json()["access_token"]
    me = (await admin_api.get("/api/v1/me")).json()
    await admin_api.post("/api/v1/departments", json={"name": "Продажи"}, headers={"X-Request-ID": "req-1"})
    await anon.post("/api/v1/departments", json={"name": "X"}, headers=bearer(token) | {"X-Request-ID": "req-2"})
    async with app.state.runtime.sessionmaker() as s:
        rows = {r.request_id: r for r in (await s.execute(select(AuditEntry))).scalars()}
    assert (rows["req-1"].user_id, rows["req-1"].method, rows["req-1"].path, rows["req-1"].status) == (
        uuid.UUID(me["id"]),
        "POST",
        "/api/v1/departments",
        201,
    )
    assert rows["req-2"].status == 403 and rows["req-2"].user_id is not None
    assert sum(r.path == "/api/v1/auth/token" and r.status == 200 for r in rows.values()) == 2
    assert not any(r.method == "GET" for r in rows.values())


async def test_audit_records_a_partner_by_its_key(app):
    key_id = uuid.uuid4()
    await audit.audit(
        app.state.runtime.sessionmaker,
        caller=Caller(key_id, "ERP", frozenset({"partner"})),
        api_key_id=key_id,
        method="POST",
        path="/api/v1/companies",
        status=201,
        request_id="r",
    )
    async with app.state.runtime.sessionmaker() as s:
        row = await s.scalar(select(AuditEntry))
    assert (row.user_id, row.api_key_id, row.status) == (None, key_id, 201)
