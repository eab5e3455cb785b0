"""The envelope and the catalogue, without a broker."""

import dataclasses
import json
import uuid

import pytest

from mercator.common.events import CATALOGUE, Envelope
from mercator.common.events.export import asyncapi, json_schemas, main


def test_an_envelope_survives_kafka_headers_both_ways():
    env = Envelope(
        type="CompanyCreated",
        source="/mercator/contacts",
        subject=str(uuid.uuid4()),
        sequence=3,
        data={"name": "Ромашка"},
        correlation_id="req-1",
        causation_id=None,
        actor="u-1",
    )
    back = Envelope.from_kafka(env.headers(), env.body())
    assert back.payload() == {"name": "Ромашка"}
    assert dataclasses.replace(back, data=back.payload(), raw=None) == env
    assert back.body() == env.body()
    headers = dict(env.headers())
    assert headers["ce_specversion"] == b"1.0" and headers["content-type"] == b"application/json"
    assert "ce_causationid" not in headers  # absent attributes are not sent as empty strings


def test_event_ids_are_unique_and_sort_in_the_order_the_events_were_made():
    """UUIDv7 (ids.py): outbox and inbox rows land at the end of their indexes, not on random pages."""
    ids = [
        Envelope(type="ActivityLogged", source="/mercator/contacts", subject="s", sequence=1, data={}).id
        for _ in range(2000)
    ]
    assert len(set(ids)) == len(ids)
    assert {i.version for i in ids} == {7}
    assert ids == sorted(ids, key=lambda i: i.bytes)  # the byte order both databases index them by


def test_a_message_without_cloud_event_headers_is_refused_by_name():
    with pytest.raises(ValueError, match="ce_id"):
        Envelope.from_kafka([("ce_type", b"X")], b"{}")


def test_every_contacts_event_of_the_issue_is_in_the_catalogue():
    for name in (
        "CompanyCreated",
        "CompanyUpdated",
        "CompanyReassigned",
        "CompanyMerged",
        "PersonAdded",
        "ActivityLogged",
        "MeetingScheduled",
        "MeetingCompleted",
        "MeetingCancelled",
    ):
        assert CATALOGUE[name].owner == "contacts"


def test_payloads_ignore_fields_they_do_not_know_so_additions_do_not_break_consumers():
    model = CATALOGUE["CompanyReassigned"]
    ids = {k: str(uuid.uuid4()) for k in ("company_id", "from_owner_id", "to_owner_id")}
    assert model.model_validate({**ids, "added_later": 1}).company_id == uuid.UUID(ids["company_id"])


def test_export_writes_a_json_schema_per_event_and_an_asyncapi_3_document(tmp_path):
    main(["--out", str(tmp_path), "--prefix", "prod."])
    schemas = sorted(p.stem for p in (tmp_path / "schemas").glob("*.json"))
    assert schemas == sorted(CATALOGUE)
    doc = json.loads((tmp_path / "asyncapi.json").read_text())
    assert doc["asyncapi"] == "3.0.0"
    assert doc["channels"]["ActivityLogged"]["address"] == "prod.ActivityLogged"
    created = doc["components"]["schemas"]["CompanyCreated"]
    assert {"company_id", "name", "owner_id"} <= set(created["required"])
    assert json_schemas()["MeetingScheduled"]["properties"]["starts_at"]["format"] == "date-time"
    assert set(asyncapi()["operations"]) == {f"receive{n}" for n in CATALOGUE}
