"""`GET /api/v1/openapi.json`: one document for the whole public API, from the gateway's own and every
service's, fetched through the gateway; and the merge rules on small documents."""

import copy

import pytest

from mercator.common.testing import apps
from mercator.common.testing.api import Switch
from mercator.gateway import openapi_merge
from mercator.gateway.proxy import ROUTES

pytestmark = pytest.mark.postgres

try:
    from openapi_spec_validator import validate as validate_spec
except ImportError:  # the gateway's `test` extra brings it
    validate_spec = None


def assert_valid(doc: dict) -> None:
    if validate_spec is not None:
        validate_spec(doc)  # raises on anything that is not valid OpenAPI 3.1
        return
    assert doc["openapi"].startswith("3.1") and doc["info"]["title"] and isinstance(doc["paths"], dict)
    for path, item in doc["paths"].items():
        for op in item.values():
            assert op["responses"], path
    schemas = doc["components"]["schemas"]
    for ref in openapi_merge._refs(doc):
        section, name = openapi_merge._pointer(ref)
        assert name in doc["components"][section], ref
    assert all(name.replace("_", "").replace(".", "").replace("-", "").isalnum() for name in schemas)


@pytest.fixture(scope="module")
def service_apps():
    """The five services' apps; their `/openapi.json` touches no database, so none is made."""
    return apps.service_apps()


@pytest.fixture
def upstream_transports(service_apps):
    return {name: Switch(app) for name, app in service_apps.items()}


async def test_one_document_for_the_whole_public_api(anon, service_apps):
    r = await anon.get("/api/v1/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    assert "max-age=60" in r.headers["cache-control"]
    doc = r.json()
    assert_valid(doc)
    assert doc["openapi"].startswith("3.1") and doc["x-missing-services"] == []
    paths = doc["paths"]
    assert all(p.startswith("/api/v1/") for p in paths)
    # The gateway's own, and every service's under the segment the gateway routes to it.
    for own in (
        "/api/v1/auth/token",
        "/api/v1/me",
        "/api/v1/users",
        "/api/v1/departments",
        "/api/v1/api-keys",
        "/api/v1/client-cards/{company_id}",
        "/api/v1/openapi.json",
    ):
        assert own in paths, own
    for name, app in service_apps.items():
        theirs = [p for p in app.openapi()["paths"] if p.startswith("/api/v1/") and "{kind}" not in p]
        assert theirs and all(p in paths for p in theirs), name
        assert {ROUTES[p.split("/")[3]] for p in theirs} == {name}
    # contacts' `/{kind}` comes as one path per dictionary, the parameter gone.
    for kind in ("regions", "industries", "contact-sources"):
        assert set(paths[f"/api/v1/{kind}"]) == {"get", "post"}
        assert set(paths[f"/api/v1/{kind}/{{entry_id}}"]) == {"patch"}
        assert all(p["name"] != "kind" for p in paths[f"/api/v1/{kind}/{{entry_id}}"]["patch"]["parameters"])
    assert not any("{kind}" in p for p in paths)
    assert "/healthz" not in paths and "/ops/status" not in paths
    ids = [op["operationId"] for item in paths.values() for op in item.values()]
    assert len(ids) == len(set(ids))
    # What the gateway adds to every proxied call: its sign-in, and problem+json errors.
    companies = paths["/api/v1/companies"]["post"]
    assert companies["security"] == [{"OAuth2PasswordBearer": []}, {"APIKeyHeader": ["write:companies"]}]
    assert set(doc["components"]["securitySchemes"]) == {"OAuth2PasswordBearer", "APIKeyHeader"}
    problem = {"$ref": "#/components/schemas/Problem"}
    assert companies["responses"]["422"]["content"] == {"application/problem+json": {"schema": problem}}
    assert "4XX" in companies["responses"] and "503" in companies["responses"]
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert "security" not in paths["/api/v1/auth/token"]["post"]


async def test_a_service_that_is_down_is_left_out_and_named(anon, upstream_transports, app):
    upstream_transports["billing"].down = True
    doc = (await anon.get("/api/v1/openapi.json")).json()
    assert doc["x-missing-services"] == ["billing"]
    assert_valid(doc)
    assert "/api/v1/invoices" not in doc["paths"] and "/api/v1/deals" in doc["paths"]
    # A partial document is kept only a few seconds: billing is back in it soon after it is.
    upstream_transports["billing"].down = False
    app.state.public_openapi.expires = 0
    assert "/api/v1/invoices" in (await anon.get("/api/v1/openapi.json")).json()["paths"]


async def test_the_document_is_cached_for_a_minute(anon, upstream_transports):
    assert (await anon.get("/api/v1/openapi.json")).status_code == 200
    calls = {name: t.calls for name, t in upstream_transports.items()}
    assert all(calls.values())
    for _ in range(3):
        assert (await anon.get("/api/v1/openapi.json")).status_code == 200
    assert {name: t.calls for name, t in upstream_transports.items()} == calls


# --- the merge rules on small documents -------------------------------------------------------------------


def _doc(paths: dict, schemas: dict) -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "x", "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _get(ref: str, status: str = "200") -> dict:
    return {
        "responses": {
            status: {
                "description": "ok",
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
            }
        }
    }


def test_clashing_schemas_are_renamed_per_service_and_identical_ones_kept_once():
    gateway = _doc(
        {"/api/v1/me": {"get": {**_get("Ref"), "operationId": "me"}}},
        {"Ref": {"type": "object", "properties": {"g": {"type": "string"}}}},
    )
    contacts = _doc(
        {
            "/api/v1/companies": {"get": {**_get("Page"), "operationId": "list"}},
            "/api/v1/deals": {"get": _get("Unused")},  # routed to deals: not contacts' to publish
            "/healthz": {"get": _get("Unused")},
        },
        {
            "Page": {
                "type": "object",
                "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Ref"}},
                    "money": {"$ref": "#/components/schemas/Money"},
                },
            },
            "Ref": {"type": "object", "properties": {"c": {"type": "string"}}},
            "Money": {"type": "string"},
            "Unused": {"type": "object"},
        },
    )
    deals = _doc(
        {"/api/v1/deals": {"get": {**_get("Page"), "operationId": "list"}}},
        {
            "Page": {
                "type": "object",
                "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Ref"}},
                    "money": {"$ref": "#/components/schemas/Money"},
                },
            },
            "Ref": {"type": "object", "properties": {"d": {"type": "string"}}},
            "Money": {"type": "string"},
        },
    )
    before = copy.deepcopy((gateway, contacts, deals))
    doc = openapi_merge.merge(gateway, {"contacts": contacts, "deals": deals}, ["billing"])
    assert (gateway, contacts, deals) == before  # the sources are not changed
    schemas = doc["components"]["schemas"]
    # Ref differs everywhere: the gateway keeps the name, each service's copy is prefixed; Page is the same
    # text in both services but refers to a Ref that is not, so it is renamed too; Money is one and the same.
    assert set(schemas) == {"Ref", "Contacts_Ref", "Deals_Ref", "Contacts_Page", "Deals_Page", "Money", "Problem"}
    assert schemas["Contacts_Page"]["properties"]["items"]["items"] == {"$ref": "#/components/schemas/Contacts_Ref"}
    assert schemas["Deals_Page"]["properties"]["money"] == {"$ref": "#/components/schemas/Money"}
    assert schemas["Ref"]["properties"] == {"g": {"type": "string"}}
    ok = lambda path: doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]  # noqa: E731
    assert ok("/api/v1/companies") == {"$ref": "#/components/schemas/Contacts_Page"}
    assert ok("/api/v1/deals") == {"$ref": "#/components/schemas/Deals_Page"}
    assert set(doc["paths"]) == {"/api/v1/me", "/api/v1/companies", "/api/v1/deals"}
    assert doc["paths"]["/api/v1/deals"]["get"]["operationId"] == "deals_list"  # made unique
    assert doc["x-missing-services"] == ["billing"]
    assert_valid(doc)


def test_a_renamed_schema_takes_its_new_name_as_title_so_generated_classes_stay_apart():
    titled = lambda prop: {"type": "object", "title": "Person", "properties": {prop: {"type": "string"}}}  # noqa: E731
    gateway = _doc({"/api/v1/people": {"get": _get("Person")}}, {"Person": titled("department")})
    contacts = _doc({"/api/v1/companies": {"get": _get("Person")}}, {"Person": titled("phone")})
    schemas = openapi_merge.merge(gateway, {"contacts": contacts}, [])["components"]["schemas"]
    assert schemas["Person"]["title"] == "Person"
    assert schemas["Contacts_Person"]["title"] == "Contacts_Person"


def test_a_parameter_as_first_segment_becomes_one_path_per_routed_value():
    kind = {"name": "kind", "in": "path", "required": True, "schema": {"$ref": "#/components/schemas/Kind"}}
    entry = {"name": "entry_id", "in": "path", "required": True, "schema": {"type": "string"}}
    contacts = _doc(
        {
            "/api/v1/{kind}/{entry_id}": {
                "patch": {**_get("Entry"), "operationId": "upd", "parameters": [kind, entry]}
            },
            "/api/v1/{free}": {
                "get": {
                    **_get("Entry"),
                    "parameters": [{"name": "free", "in": "path", "required": True, "schema": {"type": "string"}}],
                }
            },
        },
        {"Kind": {"enum": ["regions", "deals", "industries"], "type": "string"}, "Entry": {"type": "object"}},
    )
    doc = openapi_merge.merge(_doc({}, {}), {"contacts": contacts}, [])
    assert set(doc["paths"]) == {"/api/v1/regions/{entry_id}", "/api/v1/industries/{entry_id}"}
    op = doc["paths"]["/api/v1/regions/{entry_id}"]["patch"]
    assert op["parameters"] == [entry] and op["operationId"] == "upd_regions"
    assert "Kind" not in doc["components"]["schemas"]
    assert_valid(doc)
