"""The checked-in JSON Schemas: in step with the code, and describing real events."""

from __future__ import annotations

import json
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import msgspec
import pytest

from contracts.codec import encode
from contracts.events import EVENT_TYPES, InvoiceEvent, event_type
from contracts.examples import CREATED, EXAMPLES, PAID
from contracts.schema import SCHEMA_DIR, schema_files, write_schemas


def test_checked_in_schemas_match_the_code() -> None:
    expected = schema_files()
    on_disk = {path.name: path.read_text(encoding="utf-8") for path in SCHEMA_DIR.glob("*.json")}
    assert on_disk == expected, (
        "contracts/schemas/ is out of date with contracts/events.py: "
        "run `python -m contracts.schema` and commit the result"
    )


def test_there_is_one_schema_per_event_type() -> None:
    assert sorted(schema_files()) == sorted(f"{t}.json" for t in EVENT_TYPES)


def test_schema_files_have_sorted_keys_two_space_indent_and_a_final_newline() -> None:
    for text in schema_files().values():
        assert text.endswith("}\n")
        assert text == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def test_writing_schemas_creates_the_files_the_drift_check_compares(
    tmp_path: Any,
) -> None:
    written = write_schemas(tmp_path)
    assert {path.name: path.read_text(encoding="utf-8") for path in written} == schema_files()


def load(event_type: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMA_DIR / f"{event_type}.json").read_text("utf-8"))
    return schema


@pytest.mark.parametrize("event", EXAMPLES, ids=event_type)
def test_example_events_are_valid_against_their_schema(event: InvoiceEvent) -> None:
    schema = load(event_type(event))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(json.loads(encode(event)), schema, cls=jsonschema.Draft202012Validator)


def test_the_schemas_document_the_contract_rules() -> None:
    schema = load("invoice.created")
    validator = jsonschema.Draft202012Validator(schema)
    good = json.loads(encode(CREATED))

    def errors(change: dict[str, Any]) -> list[str]:
        document = {**good, **change}
        return [error.message for error in validator.iter_errors(document)]

    assert errors({}) == []
    assert errors({"type": "invoice.sent"})
    assert errors({"sequence": 0})
    assert errors({"id": ""})
    assert errors({"data": {**good["data"], "net_total": 1237.5}})
    assert errors({"data": {**good["data"], "net_total": "1e3"}})
    assert errors({"data": {**good["data"], "currency": "eur"}})
    paid = json.loads(encode(PAID))
    assert [
        e.message
        for e in jsonschema.Draft202012Validator(load("invoice.paid")).iter_errors(
            {**paid, "data": {**paid["data"], "amount": "-1"}}
        )
    ]


def test_the_payload_schema_can_be_referenced_on_its_own() -> None:
    schema = load("invoice.paid")
    payload = {"$ref": "#/$defs/InvoicePaidData", "$defs": schema["$defs"]}
    jsonschema.validate(msgspec.to_builtins(PAID.data), payload)
