"""The public OpenAPI document as the gateway merges it, read as a partner's tools read it: money typed as
what the API takes, and a name of its own for every schema (a generator makes one class per title)."""

import json
import re
from collections import defaultdict

import pytest
from pydantic import TypeAdapter, ValidationError

from mercator.common.http.fields import Exact
from mercator.common.money import PLAIN_DECIMAL

# Every property of these names that is text is a decimal: money, a quantity, a rate.
DECIMALS = {
    "amount",
    "cost",
    "credit",
    "credited",
    "debt",
    "discount_percent",
    "gross",
    "invoiced",
    "list_price",
    "net",
    "outstanding",
    "paid",
    "probability",
    "quantity",
    "revenue",
    "total",
    "unit_price",
    "vat",
    "weighted",
}


def walk(node, where=""):
    """(where, schema) for every schema object in the document."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{where}/{i}")


def types(schema: dict) -> set[str]:
    found = set()
    if isinstance(schema.get("type"), str):
        found.add(schema["type"])
    elif isinstance(schema.get("type"), list):
        found |= set(schema["type"])
    for alternative in schema.get("anyOf", []) + schema.get("oneOf", []):
        found |= types(alternative)
    return found


def strings(schema: dict) -> list[dict]:
    return [s for s in [schema, *schema.get("anyOf", []), *schema.get("oneOf", [])] if s.get("type") == "string"]


def number_or_string(doc: dict) -> list[str]:
    return [where for where, schema in walk(doc) if {"number", "string"} <= types(schema)]


def test_money_is_documented_as_a_decimal_string_and_nowhere_as_a_number(public_document):
    assert not number_or_string(public_document), (
        "documented as number | string, but numbers are refused:\n" + "\n".join(number_or_string(public_document))
    )
    patterns, unpatterned = defaultdict(list), []
    for name, schema in public_document["components"]["schemas"].items():
        for field, prop in schema.get("properties", {}).items():
            for text in strings(prop) if field in DECIMALS else []:
                if "pattern" in text:
                    patterns[text["pattern"]].append(f"{name}.{field}")
                else:
                    unpatterned.append(f"{name}.{field}")
    assert not unpatterned, f"decimals without their pattern: {unpatterned}"
    assert len(patterns) == 1, f"one pattern for every decimal, not {dict(patterns)}"
    assert sum(map(len, patterns.values())) >= 60
    # Requests and responses alike.
    schemas = public_document["components"]["schemas"]
    assert "pattern" in schemas["InvoicePublic"]["properties"]["total"]
    assert "pattern" in schemas["PaymentCreate"]["properties"]["amount"]


def test_each_services_own_document_says_the_same_of_money(service_apps):
    for name, app in service_apps.items():
        doc = app.openapi()
        assert not number_or_string(doc), f"{name}: {number_or_string(doc)}"
        texts = [
            text
            for schema in doc["components"]["schemas"].values()
            for field, prop in schema.get("properties", {}).items()
            if field in DECIMALS
            for text in strings(prop)
        ]
        assert all(text.get("pattern") == PLAIN_DECIMAL for text in texts), name
    assert texts  # analytics, the last, has money too


SAMPLES = [
    "0",
    "7",
    "120000.00",
    "-5.5",
    "10.000",
    "007",
    "1e5",
    "1E+3",
    "+1",
    ".5",
    "1.",
    " 1",
    "1 ",
    "1\n",
    "1_000",
    "1,5",
    "١٢",
    "１",
    "NaN",
    "Infinity",
    "-",
    "",
    "--1",
    "1.2.3",
    "0x10",
    "12 000",
]


@pytest.mark.parametrize("sample", SAMPLES)
def test_the_documented_pattern_is_exactly_what_the_api_takes(public_document, sample):
    body = public_document["components"]["schemas"]["PaymentCreate"]
    pattern = body["properties"]["amount"]["pattern"]
    documented = re.search(pattern, sample) is not None and "\n" not in sample  # ECMA-262: `$` is the very end
    try:
        TypeAdapter(Exact).validate_json(json.dumps(sample))
        taken = True
    except ValidationError:
        taken = False
    assert taken == documented, f"{sample!r}: the document says {documented}, the API {taken}"


@pytest.mark.parametrize("number", ["120000", "1.5", "0", "true"])
def test_a_json_number_for_money_is_refused_as_documented(number):
    with pytest.raises(ValidationError, match="decimal string"):
        TypeAdapter(Exact).validate_json(number)


def class_name(name: str) -> str:
    """What a generator makes of a schema's title: `Page[PersonPublic]` and `Page_PersonPublic_` are one class."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def test_every_schema_has_a_name_and_a_title_of_its_own(public_document):
    by_class = defaultdict(set)
    for name, schema in public_document["components"]["schemas"].items():
        by_class[class_name(schema.get("title", name))].add(name)
    clashes = {k: sorted(v) for k, v in by_class.items() if len(v) > 1}
    assert not clashes, f"schemas a client generator cannot tell apart (by title): {clashes}"
    names = defaultdict(set)
    for name in public_document["components"]["schemas"]:
        names[class_name(name)].add(name)
    assert not {k: v for k, v in names.items() if len(v) > 1}
