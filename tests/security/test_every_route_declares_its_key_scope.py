"""Every route declares the API-key scope it needs, and a route without a declaration refuses keys.

A key with only `read:regions` read the composed client card (tax ids, persons, e-mails, call notes), its
export, `/people`, and received every event on the live stream: those routes checked no scope. Now one table
says what each operation needs; the gateway refuses a key without it before anything runs or is forwarded,
and the merged OpenAPI document says it on every operation. This walks every operation of that document with
a key of each single scope."""

import re
import uuid

import pytest

from mercator.common.testing.api import caller, client
from mercator.common.testing.apps import service_apps
from mercator.gateway import api_keys, identity, openapi, openapi_merge, schemas

CLOSED = "http://127.0.0.1:9"  # nothing listens: an operation a key may call is forwarded, and fails there


@pytest.fixture
async def gateway(service_app, cheap_hashing):
    """The gateway, every service pointed at CLOSED, and a key for each single scope."""
    _, runtime, app = await service_app("gateway", **{f"{s}_url": CLOSED for s in openapi.SERVICES})
    admin = caller("Admin", roles=("admin",))
    keys = {}
    for scope in sorted(identity.SCOPES):
        async with runtime.uow() as uow:
            _, keys[scope] = await api_keys.create_api_key(uow, schemas.ApiKeyCreate(name=scope, scopes=[scope]), admin)
            await uow.commit()
    return app, keys


def concrete(template: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), template)


async def test_every_operation_takes_only_the_keys_its_declaration_names(gateway):
    app, keys = gateway
    document = openapi_merge.merge(app.openapi(), {name: a.openapi() for name, a in service_apps().items()}, [])
    walked = 0
    async with client(app) as api:
        for template, item in document["paths"].items():
            for method, op in item.items():
                if method not in ("get", "post", "put", "patch", "delete") or not op.get("security"):
                    continue
                assert "x-api-key-scopes" in op, f"{method.upper()} {template} declares nothing"
                declared = op["x-api-key-scopes"]
                key_schemes = [s for s in op["security"] if "APIKeyHeader" in s]
                assert key_schemes == ([{"APIKeyHeader": declared}] if declared is not None else []), template
                path = concrete(template)
                for scope, key in keys.items():
                    r = await api.request(
                        method.upper(), path, headers={"X-API-Key": key}, json={} if method != "get" else None
                    )
                    opens = declared is not None and set(declared) <= {scope}
                    if opens:
                        assert r.status_code != 403, (method, template, scope, r.text)
                    else:
                        assert r.status_code == 403, (method, template, scope, r.status_code)
                    walked += 1
    assert walked > 1000, walked


async def test_the_card_its_export_people_and_the_live_stream_refuse_a_key_for_regions(gateway):
    app, keys = gateway
    async with client(app, {"X-API-Key": keys["read:regions"]}) as api:
        for path in (
            f"/api/v1/client-cards/{uuid.uuid4()}",
            f"/api/v1/client-cards/{uuid.uuid4()}/export",
            "/api/v1/people",
            "/api/v1/live",
        ):
            assert (await api.get(path)).status_code == 403, path
        assert (await api.get("/api/v1/me")).status_code == 200, "a key may ask who it is"


async def test_history_merge_and_reassign_are_scopes_of_their_own(gateway):
    app, keys = gateway
    card = uuid.uuid4()
    async with client(app, {"X-API-Key": keys["read:companies"]}) as api:
        assert (await api.get(f"/api/v1/companies/{card}/history")).status_code == 403
        assert (await api.get(f"/api/v1/companies/{card}/persons")).status_code == 403
    async with client(app, {"X-API-Key": keys["write:companies"]}) as api:
        for action in ("merge", "reassign"):
            assert (await api.post(f"/api/v1/companies/{card}/{action}", json={})).status_code == 403, action
    async with client(app, {"X-API-Key": keys["merge:companies"]}) as api:
        assert (await api.post(f"/api/v1/companies/{card}/merge", json={})).status_code != 403
