"""Decoding Kafka messages: both CloudEvents modes, every reason, any bytes."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.codec import (
    STRUCTURED_CONTENT_TYPE,
    Decoded,
    decode,
    decode_stored,
    encode,
    encode_binary,
)
from contracts.errors import ContractError, Reason
from contracts.events import InvoiceCreated, InvoiceEvent, event_type
from contracts.examples import CREATED, EXAMPLES, PAID, SENT, VOIDED

Message = tuple[bytes | None, list[tuple[str, bytes | None]]]


def as_dict(event: InvoiceEvent) -> dict[str, Any]:
    document: dict[str, Any] = msgspec.to_builtins(event)
    return document


def structured(document: Any) -> bytes:
    return json.dumps(document).encode()


def reason_of(value: bytes | None, headers: list[tuple[str, bytes | None]] | None = None) -> Reason:
    with pytest.raises(ContractError) as caught:
        decode(value, headers or ())
    return caught.value.reason


def detail_of(value: bytes | None, headers: list[tuple[str, bytes | None]] | None = None) -> str:
    with pytest.raises(ContractError) as caught:
        decode(value, headers or ())
    return caught.value.detail


def changed(event: InvoiceEvent, change: Callable[[dict[str, Any]], object]) -> bytes:
    document = as_dict(event)
    change(document)
    return structured(document)


# --- both modes ---------------------------------------------------------------


@pytest.mark.parametrize("event", EXAMPLES, ids=event_type)
def test_every_event_type_decodes_the_same_in_structured_and_binary_mode(
    event: InvoiceEvent,
) -> None:
    from_structured = decode(encode(event), [("content-type", STRUCTURED_CONTENT_TYPE.encode())])
    headers, value = encode_binary(event)
    from_binary = decode(value, headers)
    assert from_structured == from_binary
    assert from_structured.event == event


@pytest.mark.parametrize("event", EXAMPLES, ids=event_type)
def test_a_stored_body_decodes_as_the_checked_decoder_decodes_it(event: InvoiceEvent) -> None:
    # Binary-mode events are stored re-encoded as structured JSON.
    headers, value = encode_binary(event)
    for body in (encode(event), encode(decode(value, headers).event)):
        assert decode_stored(body) == decode(body)


def test_a_created_event_comes_with_its_amounts_and_others_without() -> None:
    created = decode(encode(CREATED))
    assert created.amounts is not None
    assert created.amounts.gross == 149738
    assert [decode(encode(e)).amounts for e in (SENT, PAID, VOIDED)] == [
        None,
        None,
        None,
    ]


def test_structured_json_carries_the_type_attribute_cloudevents_requires() -> None:
    document = json.loads(encode(PAID))
    assert document["type"] == "invoice.paid"
    assert document["specversion"] == "1.0"
    assert document["data"]["amount"] == "500.00"
    assert document["time"] == "2026-03-20T14:05:12Z"


def test_binary_mode_puts_attributes_in_ce_headers_and_data_in_the_value() -> None:
    headers, value = encode_binary(PAID)
    assert dict(headers) == {
        "ce_type": b"invoice.paid",
        "ce_specversion": b"1.0",
        "ce_id": b"evt_0003",
        "ce_source": b"/payments",
        "ce_subject": b"inv_01J9Z3Q5T7",
        "ce_time": b"2026-03-20T14:05:12Z",
        "ce_tenantid": b"acme",
        "ce_sequence": b"3",
        "content-type": b"application/json",
    }
    assert json.loads(value) == as_dict(PAID)["data"]


def test_binary_mode_without_a_datacontenttype_still_sends_a_content_type() -> None:
    event = msgspec.structs.replace(SENT, datacontenttype=None)
    headers, value = encode_binary(event)
    assert ("content-type", b"application/json") in headers
    assert decode(value, headers).event == msgspec.structs.replace(event, datacontenttype="application/json")


def test_structured_encoding_round_trips_and_omits_absent_optional_fields() -> None:
    minimal = msgspec.structs.replace(SENT, datacontenttype=None)
    assert "datacontenttype" not in json.loads(encode(minimal))
    for event in (*EXAMPLES, minimal):
        assert decode(encode(event)).event == event


def test_unknown_extra_fields_are_ignored_for_forward_compatibility() -> None:
    def add_fields(document: dict[str, Any]) -> None:
        document["traceparent"] = "00-abc"
        document["data"]["future_field"] = {"nested": [1, 2.5, None]}
        document["data"]["lines"][0]["discount"] = "1.00"

    assert decode(changed(CREATED, add_fields)) == decode(encode(CREATED))
    headers, value = encode_binary(PAID)
    headers.append(("ce_traceparent", b"00-abc"))
    headers.append(("x-other", b"\xff"))
    assert decode(value, headers) == decode(encode(PAID))


def test_optional_created_fields_have_their_defaults() -> None:
    def drop_optional(document: dict[str, Any]) -> None:
        for name in (
            "customer_name",
            "billing_period",
            "accounting_date",
            "document_type",
        ):
            document["data"].pop(name, None)
        for line in document["data"]["lines"]:
            del line["description"]

    event = decode(changed(CREATED, drop_optional)).event
    assert isinstance(event, InvoiceCreated)
    data = event.data
    assert data.customer_name is None and data.billing_period is None
    assert data.document_type == "fiscal" and data.lines[0].description == ""


def test_structured_mode_ignores_stray_ce_headers() -> None:
    headers: list[tuple[str, bytes | None]] = [
        ("ce_sequence", b"not a number"),
        ("ce_id", None),
    ]
    assert decode(encode(SENT), headers).event == SENT


# --- every reason the codec gives ----------------------------------------------


def set_in(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change that sets a dotted path (list indexes as numbers) to value."""

    def change(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = document
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value

    return change


def delete(path: str) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = document
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        del target[last]

    return change


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"", Reason.MALFORMED),
        (b"\xff\xfe", Reason.MALFORMED),
        (b"not json", Reason.MALFORMED),
        (b'{"type": "invoice.sent", ', Reason.MALFORMED),
        (b"[1, 2]", Reason.MALFORMED),
        (b'"invoice.created"', Reason.MALFORMED),
        (b"null", Reason.MALFORMED),
        (b"{}", Reason.SCHEMA_VIOLATION),
        (b'{"type": "invoice.sent", "id": "\xff"}', Reason.MALFORMED),
        (b'{"type": "invoice.sent", "id": 1, "x": [}', Reason.MALFORMED),
        (
            b'{"type": "invoice.sent", "x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
            Reason.MALFORMED,
        ),
    ],
)
def test_bytes_that_are_not_a_json_object_are_malformed(value: bytes, reason: Reason) -> None:
    assert reason_of(value) is reason


def test_a_message_without_a_value_is_malformed() -> None:
    assert reason_of(None) is Reason.MALFORMED


def test_invalid_utf8_in_a_field_the_decoder_skips_is_still_malformed() -> None:
    valid = encode(CREATED)
    broken = valid.replace(b'"customer_name"', b'"customer_\xff\xfename"')
    assert broken != valid
    assert reason_of(broken) is Reason.MALFORMED


BROKEN_RULES: list[tuple[InvoiceEvent, Callable[[dict[str, Any]], None], Reason, str]] = [
    (SENT, set_in("type", "invoice.refunded"), Reason.UNKNOWN_TYPE, "$.type"),
    (SENT, set_in("type", "Invoice.Sent"), Reason.UNKNOWN_TYPE, "$.type"),
    (SENT, set_in("type", 7), Reason.SCHEMA_VIOLATION, "$.type"),
    (SENT, delete("type"), Reason.SCHEMA_VIOLATION, "`type`"),
    (SENT, set_in("specversion", "0.3"), Reason.UNSUPPORTED_SPECVERSION, "specversion"),
    (SENT, delete("specversion"), Reason.SCHEMA_VIOLATION, "specversion"),
    (SENT, set_in("id", ""), Reason.SCHEMA_VIOLATION, "$.id"),
    (SENT, set_in("id", "x" * 201), Reason.SCHEMA_VIOLATION, "$.id"),
    (SENT, set_in("subject", ""), Reason.SCHEMA_VIOLATION, "$.subject"),
    (SENT, set_in("tenantid", None), Reason.SCHEMA_VIOLATION, "$.tenantid"),
    (SENT, set_in("sequence", 0), Reason.SCHEMA_VIOLATION, "$.sequence"),
    (SENT, set_in("sequence", "+2"), Reason.SCHEMA_VIOLATION, "sequence: '+2' is not a string of ASCII digits"),
    (SENT, set_in("sequence", "0"), Reason.SCHEMA_VIOLATION, "sequence: '0' is out of range"),
    (SENT, set_in("sequence", 2.0), Reason.SCHEMA_VIOLATION, "$.sequence"),
    (SENT, set_in("sequence", 2**63), Reason.SCHEMA_VIOLATION, "$.sequence"),
    (SENT, set_in("time", "2026-03-01T09:31:00"), Reason.SCHEMA_VIOLATION, "$.time"),
    (SENT, set_in("time", "yesterday"), Reason.SCHEMA_VIOLATION, "$.time"),
    (
        SENT,
        set_in("time", "0001-01-01T00:00:00+01:00"),
        Reason.SCHEMA_VIOLATION,
        "time",
    ),
    (
        SENT,
        set_in("datacontenttype", "text/xml"),
        Reason.SCHEMA_VIOLATION,
        "datacontenttype",
    ),
    (SENT, set_in("data", "2026-03-01"), Reason.SCHEMA_VIOLATION, "$.data"),
    (SENT, delete("data"), Reason.SCHEMA_VIOLATION, "`data`"),
    (
        SENT,
        set_in("data.sent_at", "2026-03-01"),
        Reason.SCHEMA_VIOLATION,
        "$.data.sent_at",
    ),
    (
        SENT,
        set_in("source", "\u0000"),
        Reason.SCHEMA_VIOLATION,
        "source: contains a NUL",
    ),
    (VOIDED, set_in("data.reason", "x\u0000y"), Reason.SCHEMA_VIOLATION, "data.reason"),
    (
        VOIDED,
        set_in("data.voided_at", 1774425600),
        Reason.SCHEMA_VIOLATION,
        "$.data.voided_at",
    ),
    (PAID, set_in("data.amount", 500), Reason.SCHEMA_VIOLATION, "$.data.amount"),
    (PAID, set_in("data.amount", 500.0), Reason.SCHEMA_VIOLATION, "$.data.amount"),
    (PAID, set_in("data.amount", "5e2"), Reason.INVALID_MONEY, "data.amount: '5e2'"),
    (PAID, set_in("data.amount", "-1.00"), Reason.NEGATIVE_AMOUNT, "data.amount"),
    (PAID, set_in("data.amount", "0"), Reason.NEGATIVE_AMOUNT, "must be > 0"),
    (PAID, set_in("data.amount", "0.00"), Reason.NEGATIVE_AMOUNT, "must be > 0"),
    (PAID, set_in("data.payment_id", ""), Reason.SCHEMA_VIOLATION, "$.data.payment_id"),
    (CREATED, set_in("data.currency", "XXX"), Reason.UNKNOWN_CURRENCY, "data.currency"),
    (CREATED, set_in("data.currency", 978), Reason.SCHEMA_VIOLATION, "$.data.currency"),
    (
        CREATED,
        set_in("data.issue_date", "2026-02-30"),
        Reason.SCHEMA_VIOLATION,
        "$.data.issue_date",
    ),
    (
        CREATED,
        set_in("data.due_date", "2026-02-28"),
        Reason.INVALID_DATES,
        "data.due_date",
    ),
    (
        CREATED,
        set_in("data.document_type", "draft"),
        Reason.SCHEMA_VIOLATION,
        "$.data.document_type",
    ),
    (
        CREATED,
        set_in("data.lines.1.charge_type", "variable"),
        Reason.SCHEMA_VIOLATION,
        "$.data.lines[1].charge_type",
    ),
    (
        CREATED,
        set_in("data.lines.0.quantity", 1),
        Reason.SCHEMA_VIOLATION,
        "$.data.lines[0].quantity",
    ),
    (
        CREATED,
        set_in("data.lines.2.quantity", "-1"),
        Reason.SCHEMA_VIOLATION,
        "data.lines[2].quantity",
    ),
    (
        CREATED,
        set_in("data.lines.0.net_amount", 1000.0),
        Reason.SCHEMA_VIOLATION,
        "$.data.lines[0].net_amount",
    ),
    (
        CREATED,
        set_in("data.lines.0.net_amount", "1000.001"),
        Reason.MONEY_PRECISION,
        "data.lines[0].net_amount",
    ),
    (
        CREATED,
        set_in("data.lines.0.net_amount", "NaN"),
        Reason.INVALID_MONEY,
        "data.lines[0].net_amount",
    ),
    (
        CREATED,
        set_in("data.lines.0.tax_amount", "-210.00"),
        Reason.NEGATIVE_AMOUNT,
        "data.lines[0].tax_amount",
    ),
    (
        CREATED,
        set_in("data.gross_total", "1" + "0" * 20),
        Reason.AMOUNT_OUT_OF_RANGE,
        "data.gross_total",
    ),
    (
        CREATED,
        set_in("data.gross_total", "1497.39"),
        Reason.TOTALS_MISMATCH,
        "data.gross_total",
    ),
    (CREATED, set_in("data.lines", []), Reason.TOTALS_MISMATCH, "data.lines"),
    (
        CREATED,
        set_in("data.lines", [{}] * 1001),
        Reason.SCHEMA_VIOLATION,
        "$.data.lines",
    ),
    (
        CREATED,
        delete("data.lines.1.recurrence"),
        Reason.SCHEMA_VIOLATION,
        "$.data.lines[1]",
    ),
    (
        CREATED,
        set_in("data.customer_name", "c\u0000"),
        Reason.SCHEMA_VIOLATION,
        "data.customer_name",
    ),
    (
        CREATED,
        set_in("data.lines.2.description", "\u0000"),
        Reason.SCHEMA_VIOLATION,
        "data.lines[2].description",
    ),
]


@pytest.mark.parametrize(("event", "change", "reason", "detail_part"), BROKEN_RULES)
def test_every_broken_rule_is_reported_with_its_reason_and_field(
    event: InvoiceEvent,
    change: Callable[[dict[str, Any]], None],
    reason: Reason,
    detail_part: str,
) -> None:
    value = changed(event, change)
    with pytest.raises(ContractError) as caught:
        decode(value)
    assert caught.value.reason is reason, caught.value.detail
    assert detail_part in caught.value.detail


def test_schema_violation_details_keep_the_path_msgspec_reports() -> None:
    value = changed(CREATED, set_in("data.lines.0.quantity", 3))
    assert detail_of(value) == "Expected `str`, got `int` - at `$.data.lines[0].quantity`"


def test_every_reason_the_codec_can_give_is_covered() -> None:
    # SUBJECT_MISMATCH and the fold's reasons need the Kafka key or the history.
    codec_reasons = {
        Reason.MALFORMED,
        Reason.SCHEMA_VIOLATION,
        Reason.UNKNOWN_TYPE,
        Reason.UNSUPPORTED_SPECVERSION,
        Reason.UNKNOWN_CURRENCY,
        Reason.INVALID_MONEY,
        Reason.MONEY_PRECISION,
        Reason.NEGATIVE_AMOUNT,
        Reason.AMOUNT_OUT_OF_RANGE,
        Reason.TOTALS_MISMATCH,
        Reason.INVALID_DATES,
    }
    covered = {reason for _, _, reason, _ in BROKEN_RULES} | {Reason.MALFORMED}
    assert covered == codec_reasons


# --- binary mode errors --------------------------------------------------------


def binary(event: InvoiceEvent) -> tuple[bytes, list[tuple[str, bytes | None]]]:
    headers, value = encode_binary(event)
    return value, list(headers)


def replace_header(
    headers: list[tuple[str, bytes | None]], name: str, value: bytes | None
) -> list[tuple[str, bytes | None]]:
    return [(key, value if key == name else raw) for key, raw in headers]


@pytest.mark.parametrize(
    ("header", "value", "reason"),
    [
        ("ce_sequence", b"two", Reason.SCHEMA_VIOLATION),
        ("ce_sequence", b"+3", Reason.SCHEMA_VIOLATION),
        ("ce_sequence", b"2147483648", Reason.SCHEMA_VIOLATION),
        ("ce_sequence", b"-1", Reason.SCHEMA_VIOLATION),
        ("ce_sequence", b"0", Reason.SCHEMA_VIOLATION),
        ("ce_sequence", b"99999999999999999999", Reason.SCHEMA_VIOLATION),
        ("ce_sequence", "٣".encode(), Reason.SCHEMA_VIOLATION),
        ("ce_type", b"invoice.lost", Reason.UNKNOWN_TYPE),
        ("ce_specversion", b"0.3", Reason.UNSUPPORTED_SPECVERSION),
        ("ce_time", b"2026-03-01", Reason.SCHEMA_VIOLATION),
        ("ce_id", b"\xc3\x28", Reason.MALFORMED),
        ("ce_id", None, Reason.SCHEMA_VIOLATION),
        ("ce_id", b"", Reason.SCHEMA_VIOLATION),
        ("content-type", b"application/xml", Reason.SCHEMA_VIOLATION),
    ],
)
def test_bad_binary_mode_headers_are_reported(header: str, value: bytes | None, reason: Reason) -> None:
    data, headers = binary(PAID)
    assert reason_of(data, replace_header(headers, header, value)) is reason


def test_binary_mode_needs_every_required_attribute_header() -> None:
    data, headers = binary(PAID)
    without_subject = [(k, v) for k, v in headers if k != "ce_subject"]
    assert "`subject`" in detail_of(data, without_subject)


def test_binary_mode_rejects_a_repeated_attribute_header() -> None:
    data, headers = binary(PAID)
    assert reason_of(data, [*headers, ("ce_id", b"evt_other")]) is Reason.SCHEMA_VIOLATION


def test_binary_mode_value_must_be_exactly_one_json_value() -> None:
    _, headers = binary(PAID)
    injected = b'{"payment_id": "p", "amount": "1", "paid_at": "2026-01-01T00:00:00Z"}, "id": "x"'
    assert reason_of(injected, headers) is Reason.MALFORMED
    assert reason_of(b"", headers) is Reason.MALFORMED
    assert reason_of(None, headers) is Reason.SCHEMA_VIOLATION


def test_binary_mode_reports_data_errors_at_the_same_path_as_structured_mode() -> None:
    value = changed(CREATED, set_in("data.lines.1.net_amount", 37.5))
    document = json.loads(value)
    headers, _ = encode_binary(CREATED)
    from_binary = detail_of(json.dumps(document["data"]).encode(), list(headers))
    assert from_binary == detail_of(value)


def test_binary_mode_cannot_replace_the_data_with_a_header() -> None:
    data, headers = binary(PAID)
    assert decode(data, [*headers, ("ce_data", b"{}")]).event == PAID


# --- never anything but ContractError ------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


def decodes_or_contract_error(value: bytes | None, headers: Any = ()) -> None:
    try:
        result = decode(value, headers)
    except ContractError as error:
        assert isinstance(error.reason, Reason)
        assert error.detail
    else:
        assert isinstance(result, Decoded)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_anything_but_contract_error(value: bytes) -> None:
    decodes_or_contract_error(value)


@given(json_values)
def test_arbitrary_json_never_raises_anything_but_contract_error(document: Any) -> None:
    decodes_or_contract_error(json.dumps(document).encode())


def paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(document, dict):
        for key, value in document.items():
            found += paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += paths(value, (*prefix, index))
    return found


@st.composite
def mutated_events(draw: st.DrawFn) -> bytes:
    """A valid event with one field replaced by an arbitrary value or removed."""
    document = copy.deepcopy(as_dict(draw(st.sampled_from(EXAMPLES))))
    *parents, last = draw(st.sampled_from(paths(document)))
    target = document
    for part in parents:
        target = target[part]
    if draw(st.booleans()) and isinstance(target, dict):
        del target[last]
    else:
        target[last] = draw(
            json_values | st.sampled_from(["", "-1", "0", "1e3", "1.001", "NaN", "\u0000", "2026-13-01"])
        )
    return json.dumps(document).encode()


@settings(max_examples=300)
@given(mutated_events())
def test_mutated_events_never_raise_anything_but_contract_error(value: bytes) -> None:
    decodes_or_contract_error(value)


header_names = st.sampled_from(
    [
        "ce_specversion",
        "ce_id",
        "ce_type",
        "ce_sequence",
        "ce_time",
        "ce_subject",
        "ce_source",
        "ce_tenantid",
        "ce_data",
        "content-type",
        "Content-Type",
        "ce_",
    ]
) | st.text(max_size=12)
header_values = (
    st.none()
    | st.binary(max_size=20)
    | st.sampled_from(
        [
            b"1.0",
            b"invoice.paid",
            b"invoice.created",
            b"1",
            b"2026-03-01T00:00:00Z",
            b"application/json",
        ]
    )
)


@given(
    st.lists(st.tuples(header_names, header_values), max_size=10),
    st.none() | st.binary(max_size=50) | st.sampled_from([encode_binary(PAID)[1], b"{}", b"[]"]),
)
def test_arbitrary_headers_never_raise_anything_but_contract_error(
    headers: list[tuple[str, bytes | None]], value: bytes | None
) -> None:
    decodes_or_contract_error(value, headers)
