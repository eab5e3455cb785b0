"""The merge of the gateway's own OpenAPI document and the services' into the one public document:

- of a service's document only the paths under `/api/v1` whose first segment routes to that service
  (`proxy.ROUTES`) are kept; a path whose first segment is a parameter (contacts' `/api/v1/{kind}`)
  is expanded into one path per value of its enum that routes there, the parameter dropped;
- components are pruned to what the kept paths reach; a component defined differently by two
  sources (or referring to one that is) is renamed in each service's copy to `<Service>_<Name>`
  (its title too) and that service's `$ref`s rewritten; the gateway's copy keeps its name; identical
  copies become one;
- what the gateway adds to every call is documented on every operation: its security schemes
  (bearer token or `X-API-Key`), and errors as `application/problem+json` (RFC 9457: `4XX`, and
  `503` when the owning service is down) in place of FastAPI's default `HTTPValidationError`;
"""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

from mercator.common.http.errors import PROBLEM
from mercator.gateway import scopes
from mercator.gateway.proxy import ROUTES

log = logging.getLogger(__name__)

PREFIX = "/api/v1/"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
GATEWAY = "gateway"
BEARER, API_KEY = "OAuth2PasswordBearer", "APIKeyHeader"  # the gateway's security schemes
SECURITY: list[dict[str, list[str]]] = [{BEARER: []}, {API_KEY: []}]

# RFC 9457 problem details, as mercator.common.http.errors writes them.
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "An error (RFC 9457); `errors` names the fields of invalid input, `rule` a broken business rule.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": ["string", "null"]}, "message": {"type": "string"}},
                "required": ["message"],
            },
        },
        "rule": {"type": "string"},
    },
    "required": ["title", "status"],
}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}}


PROBLEM_RESPONSES = {
    "422": _problem("Invalid input (`errors` names the fields), or a broken business rule (named in `rule`)"),
    "4XX": _problem(
        "Not signed in (401), not allowed (403), not found or not yours to see (404), a conflict "
        "(409), a stale `If-Match` (412), too many requests (429, with `Retry-After`)"
    ),
    "503": _problem("The service behind this resource is down; try again after `Retry-After`"),
}
_FASTAPI_ERRORS = {"#/components/schemas/HTTPValidationError"}


# --- walking JSON ---------------------------------------------------------------------------------


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _rewrite_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {
            k: (renames.get(v, v) if k == "$ref" and isinstance(v, str) else _rewrite_refs(v, renames))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rewrite_refs(v, renames) for v in node]
    return node


def _pointer(ref: str) -> tuple[str, str] | None:
    """`#/components/<section>/<name>` -> (section, name)."""
    if not ref.startswith("#/components/"):
        return None
    parts = ref[len("#/components/") :].split("/")
    if len(parts) != 2:
        return None
    return parts[0], parts[1].replace("~1", "/").replace("~0", "~")


def _ref(section: str, name: str) -> str:
    return f"#/components/{section}/{name.replace('~', '~0').replace('/', '~1')}"


def _canonical(node: Any) -> str:
    return json.dumps(node, sort_keys=True, separators=(",", ":"))


# --- one service's part ------------------------------------------------------------------------------


def _first_segment(path: str) -> str | None:
    return path[len(PREFIX) :].split("/", 1)[0] if path.startswith(PREFIX) else None


def _resolve(doc: dict, schema: Any) -> Any:
    for _ in range(10):
        pointer = _pointer(schema["$ref"]) if isinstance(schema, dict) and "$ref" in schema else None
        if pointer is None:
            return schema
        section, name = pointer
        schema = doc.get("components", {}).get(section, {}).get(name)
    return schema


def _enum_of(doc: dict, parameters: list, name: str) -> list | None:
    for p in parameters:
        p = _resolve(doc, p)
        if isinstance(p, dict) and p.get("in") == "path" and p.get("name") == name:
            schema = _resolve(doc, p.get("schema"))
            if isinstance(schema, dict) and isinstance(schema.get("enum"), list):
                return schema["enum"]
            return None
    return None


def _without_param(doc: dict, parameters: list, name: str) -> list:
    return [
        p
        for p in parameters
        if not (
            isinstance(_resolve(doc, p), dict)
            and _resolve(doc, p).get("in") == "path"
            and _resolve(doc, p).get("name") == name
        )
    ]


def _expand(doc: dict, path: str, item: dict, service: str) -> Iterator[tuple[str, dict]]:
    """`/api/v1/{kind}/...` -> `/api/v1/regions/...`, ... for each value of kind's enum routed to `service`."""
    name = (_first_segment(path) or "")[1:-1]
    rest = path[len(PREFIX) + len(name) + 2 :]
    values: dict[str, dict] = {}
    for method in METHODS:
        op = item.get(method)
        if op is None:
            continue
        enum = _enum_of(doc, op.get("parameters", []) + item.get("parameters", []), name)
        if enum is None:
            log.warning("%s: %s %s has a free first segment; left out", service, method.upper(), path)
            continue
        for value in enum:
            if isinstance(value, str) and ROUTES.get(value) == service:
                expanded = values.setdefault(value, {k: copy.deepcopy(v) for k, v in item.items() if k not in METHODS})
                op = copy.deepcopy(op)
                op["parameters"] = _without_param(doc, op.get("parameters", []), name)
                if not op["parameters"]:
                    del op["parameters"]
                if "operationId" in op:
                    op["operationId"] = f"{op['operationId']}_{re.sub(r'[^A-Za-z0-9]+', '_', value)}"
                expanded[method] = op
    for value, expanded in values.items():
        if "parameters" in expanded:
            expanded["parameters"] = _without_param(doc, expanded["parameters"], name)
        yield f"{PREFIX}{value}{rest}", expanded


def public_paths(service: str, doc: dict) -> dict[str, dict]:
    """The paths of a service's document that the gateway routes to it."""
    out: dict[str, dict] = {}
    for path, item in (doc.get("paths") or {}).items():
        segment = _first_segment(path)
        if not segment:
            continue
        if segment.startswith("{") and segment.endswith("}"):
            out.update(_expand(doc, path, item, service))
        elif ROUTES.get(segment) == service:
            out[path] = item
        else:
            log.info("%s documents %s, which the gateway does not route to it; left out", service, path)
    return out


def _reachable(paths: dict, components: dict) -> set[tuple[str, str]]:
    seen: set[tuple[str, str]] = set()
    todo = list(_refs(paths))
    while todo:
        key = _pointer(todo.pop())
        if key is None or key in seen or key[1] not in components.get(key[0], {}):
            continue
        seen.add(key)
        todo.extend(_refs(components[key[0]][key[1]]))
    return seen


# --- merging -------------------------------------------------------------------------------------------


def _pascal(service: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", service))


def _secure(op: dict) -> None:
    """The gateway's view of an operation: its security and its errors."""
    responses = op.setdefault("responses", {})
    for code, response in list(responses.items()):
        content = response.get("content", {}) if isinstance(response, dict) else {}
        if any(m.get("schema", {}).get("$ref") in _FASTAPI_ERRORS for m in content.values()):
            del responses[code]
    for code, response in PROBLEM_RESPONSES.items():
        responses.setdefault(code, copy.deepcopy(response))


def _sources(gateway: dict, services: dict[str, dict]) -> dict[str, tuple[dict, dict]]:
    """name -> (paths, components) of each source, pruned to what its public paths reach."""
    sources: dict[str, tuple[dict, dict]] = {}
    own = {p: copy.deepcopy(item) for p, item in (gateway.get("paths") or {}).items() if p.startswith(PREFIX)}
    parts = {GATEWAY: (own, gateway)} | {name: (public_paths(name, doc), doc) for name, doc in services.items()}
    for name, (paths, doc) in parts.items():
        components = doc.get("components") or {}
        keep = _reachable(paths, components)
        sources[name] = (
            copy.deepcopy(paths),
            {
                s: {n: copy.deepcopy(v) for n, v in defs.items() if (s, n) in keep}
                for s, defs in components.items()
                if s != "securitySchemes"
            },
        )
    return sources


def _clashes(
    sources: dict[str, tuple[dict, dict]],
) -> tuple[dict[tuple[str, str], dict[str, Any]], set[tuple[str, str]]]:
    """(section, name) -> {source: definition}, and which of them clash: defined differently by two sources,
    or referring to one that does."""
    defined: dict[tuple[str, str], dict[str, Any]] = {}
    for name, (_, components) in sources.items():
        for section, defs in components.items():
            for n, v in defs.items():
                defined.setdefault((section, n), {})[name] = v
    clashing = {k for k, by in defined.items() if len({_canonical(v) for v in by.values()}) > 1}
    while True:
        more = {
            k
            for k, by in defined.items()
            if k not in clashing and any(_pointer(r) in clashing for v in by.values() for r in _refs(v))
        }
        if not more:
            break
        clashing |= more
    return defined, clashing


def _renames(
    name: str, clashing: set[tuple[str, str]], defined: dict[tuple[str, str], dict[str, Any]], taken: set
) -> dict[str, str]:
    """The references of one source's clashing components to their new names (`Contacts_Region`...); the
    gateway's own keep theirs."""
    renames: dict[str, str] = {}
    for section, n in clashing:
        if name != GATEWAY and name in defined[(section, n)]:
            new, i = f"{_pascal(name)}_{n}", 2
            while (section, new) in taken:
                new, i = f"{_pascal(name)}_{n}_{i}", i + 1
            taken.add((section, new))
            renames[_ref(section, n)] = _ref(section, new)
    return renames


def merge(gateway: dict, services: dict[str, dict], missing: list[str]) -> dict:
    """The public document from the gateway's own and the services' (name -> document)."""
    sources = _sources(gateway, services)
    defined, clashing = _clashes(sources)
    taken = {k for k in defined if k not in clashing} | {k for k in clashing if GATEWAY in defined[k]}
    merged_components: dict[str, dict] = {}
    merged_paths: dict[str, dict] = {}
    operation_ids: set[str] = set()
    for name, (paths, components) in sources.items():
        renames = _renames(name, clashing, defined, taken)
        for section, defs in components.items():
            target = merged_components.setdefault(section, {})
            for n, v in defs.items():
                pointer = _pointer(renames.get(_ref(section, n), _ref(section, n)))
                new = pointer[1] if pointer else n
                v = _rewrite_refs(v, renames)
                # A client generator names its classes by title: a renamed schema keeping the title of the one
                # it clashed with would be dropped as a duplicate, and every operation using it with it.
                if new != n and section == "schemas" and isinstance(v, dict) and "title" in v:
                    v["title"] = new
                target.setdefault(new, v)
        for path, item in paths.items():
            if path in merged_paths:
                log.warning("%s documents %s, which another source documents already; left out", name, path)
                continue
            item = _rewrite_refs(item, renames)
            for method in METHODS:
                op = item.get(method)
                if op is None:
                    continue
                if name != GATEWAY:
                    op["security"] = copy.deepcopy(SECURITY)
                    op.setdefault("tags", [name])
                scopes.declare(op, method, path, own=name == GATEWAY, bearer=BEARER, key=API_KEY)
                _secure(op)
                if "operationId" in op:
                    if op["operationId"] in operation_ids:
                        op["operationId"] = f"{name}_{op['operationId']}"
                    operation_ids.add(op["operationId"])
            merged_paths[path] = item

    schemas = merged_components.setdefault("schemas", {})
    if "Problem" in schemas and _canonical(schemas["Problem"]) != _canonical(PROBLEM_SCHEMA):
        raise ValueError("a source defines a component schema named Problem")
    schemas["Problem"] = copy.deepcopy(PROBLEM_SCHEMA)
    # FastAPI's validation error schemas, no longer referred to, go (and whatever else nothing reaches).
    keep = _reachable(merged_paths, merged_components)
    merged_components = {
        s: {n: v for n, v in sorted(defs.items()) if (s, n) in keep} for s, defs in merged_components.items()
    }
    merged_components = {s: defs for s, defs in merged_components.items() if defs}
    if gateway.get("components", {}).get("securitySchemes"):
        merged_components["securitySchemes"] = copy.deepcopy(gateway["components"]["securitySchemes"])

    tags = _tags([gateway, *services.values()])
    out = {
        "openapi": gateway.get("openapi", "3.1.0"),
        "info": copy.deepcopy(gateway["info"]),
        "paths": dict(sorted(merged_paths.items())),
        "components": merged_components,
        "x-missing-services": sorted(missing),
    }
    if tags:
        out["tags"] = tags
    return out


def _tags(docs: list[dict]) -> list[dict]:
    """Each tag once, as the first document to declare it has it."""
    tags, seen = [], set()
    for doc in docs:
        for tag in doc.get("tags") or []:
            if tag.get("name") not in seen:
                seen.add(tag.get("name"))
                tags.append(copy.deepcopy(tag))
    return tags


# --- fetching and caching ----------------------------------------------------------------------------
