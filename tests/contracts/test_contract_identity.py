"""What a rejected message says of whom it belongs to: a ContractError's
identity, from binary-mode headers or a structured body that parses."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import ContractError, EventIdentity, Reason, decode, encode, encode_binary, identify
from contracts.examples import CREATED, PAID, SENT

SENT_IDENTITY = EventIdentity(tenantid="acme", id="evt_0002", subject="inv_01J9Z3Q5T7", type="invoice.sent", sequence=2)
PAID_IDENTITY = EventIdentity(tenantid="acme", id="evt_0003", subject="inv_01J9Z3Q5T7", type="invoice.paid", sequence=3)


def rejected(value: bytes | None, headers: list[tuple[str, bytes | None]] | None = None) -> ContractError:
    with pytest.raises(ContractError) as caught:
        decode(value, headers or ())
    return caught.value


def sent_document(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = msgspec.to_builtins(SENT)
    document.update(changes)
    return document


def structured(document: Any) -> bytes:
    return json.dumps(document).encode()


def binary_paid(**replaced: bytes | None) -> tuple[bytes, list[tuple[str, bytes | None]]]:
    headers, value = encode_binary(PAID)
    return value, [(k, replaced.get(k, v)) for k, v in headers]


# --- binary mode: the headers ----------------------------------------------------


@pytest.mark.parametrize(
    ("value", "replaced", "reason"),
    [
        (b"not json", {}, Reason.MALFORMED),
        (b"", {}, Reason.MALFORMED),
        (None, {}, Reason.SCHEMA_VIOLATION),
        (b'{"payment_id": "p", "amount": "1e3", "paid_at": "2026-03-20T14:05:12Z"}', {}, Reason.INVALID_MONEY),
        (b'{"payment_id": "p"}', {}, Reason.SCHEMA_VIOLATION),
        (encode_binary(PAID)[1], {"ce_time": b"yesterday"}, Reason.SCHEMA_VIOLATION),
        (encode_binary(PAID)[1], {"ce_specversion": b"0.3"}, Reason.UNSUPPORTED_SPECVERSION),
        (encode_binary(PAID)[1], {"content-type": b"text/xml"}, Reason.SCHEMA_VIOLATION),
        (encode_binary(PAID)[1], {"ce_source": b"\xff"}, Reason.MALFORMED),
    ],
)
def test_a_rejected_binary_mode_message_is_identified_by_its_ce_headers(
    value: bytes | None, replaced: dict[str, bytes | None], reason: Reason
) -> None:
    _, headers = binary_paid(**replaced)
    error = rejected(value, headers)
    assert error.reason is reason
    assert error.identity == PAID_IDENTITY


def test_a_binary_mode_header_that_breaks_a_rule_is_left_out_of_the_identity() -> None:
    value, headers = binary_paid(ce_sequence=b"three", ce_tenantid=b"\xc3\x28")
    error = rejected(value, headers)
    assert error.identity == msgspec.structs.replace(PAID_IDENTITY, sequence=None, tenantid=None)


def test_a_repeated_binary_mode_header_is_left_out_of_the_identity() -> None:
    value, headers = binary_paid()
    error = rejected(value, [*headers, ("ce_id", b"evt_other")])
    assert error.identity == msgspec.structs.replace(PAID_IDENTITY, id=None)


def test_an_unknown_binary_mode_type_is_kept_as_it_was_given() -> None:
    value, headers = binary_paid(ce_type=b"invoice.refunded")
    error = rejected(value, headers)
    assert error.reason is Reason.UNKNOWN_TYPE
    assert error.identity == msgspec.structs.replace(PAID_IDENTITY, type="invoice.refunded")


def test_stray_ce_headers_of_a_structured_message_do_not_identify_it() -> None:
    headers: list[tuple[str, bytes | None]] = [("ce_tenantid", b"other"), ("ce_id", b"evt_other")]
    assert rejected(b"not json", headers).identity is None
    assert rejected(structured(sent_document(time="yesterday")), headers).identity == SENT_IDENTITY


# --- structured mode: a body that parses -------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"time": "yesterday"}, Reason.SCHEMA_VIOLATION),
        ({"data": {"sent_at": 5}}, Reason.SCHEMA_VIOLATION),
        ({"source": ""}, Reason.SCHEMA_VIOLATION),
        ({"specversion": "0.3"}, Reason.UNSUPPORTED_SPECVERSION),
        ({"datacontenttype": "text/xml"}, Reason.SCHEMA_VIOLATION),
        ({"source": "a\u0000b"}, Reason.SCHEMA_VIOLATION),
        ({"sequence": "+2"}, Reason.SCHEMA_VIOLATION),
    ],
)
def test_a_structured_event_that_parses_but_breaks_a_rule_is_identified_by_its_attributes(
    changes: dict[str, Any], reason: Reason
) -> None:
    error = rejected(structured(sent_document(**changes)))
    assert error.reason is reason
    expected = SENT_IDENTITY if "sequence" not in changes else msgspec.structs.replace(SENT_IDENTITY, sequence=None)
    assert error.identity == expected


def test_a_created_event_whose_totals_do_not_add_up_is_identified() -> None:
    document: dict[str, Any] = msgspec.to_builtins(CREATED)
    document["data"]["gross_total"] = "0.01"
    error = rejected(structured(document))
    assert error.reason is Reason.TOTALS_MISMATCH
    assert error.identity == EventIdentity(
        tenantid="acme", id="evt_0001", subject="inv_01J9Z3Q5T7", type="invoice.created", sequence=1
    )


@pytest.mark.parametrize(
    ("changes", "identity"),
    [
        ({"tenantid": 42}, msgspec.structs.replace(SENT_IDENTITY, tenantid=None)),
        ({"tenantid": ""}, msgspec.structs.replace(SENT_IDENTITY, tenantid=None)),
        ({"tenantid": "t" * 201}, msgspec.structs.replace(SENT_IDENTITY, tenantid=None)),
        ({"tenantid": "a\u0000b"}, msgspec.structs.replace(SENT_IDENTITY, tenantid=None)),
        ({"id": ["evt"]}, msgspec.structs.replace(SENT_IDENTITY, id=None)),
        ({"subject": None}, msgspec.structs.replace(SENT_IDENTITY, subject=None)),
        ({"type": "invoice.refunded"}, msgspec.structs.replace(SENT_IDENTITY, type="invoice.refunded")),
        ({"sequence": 0}, msgspec.structs.replace(SENT_IDENTITY, sequence=None)),
        ({"sequence": 2**31}, msgspec.structs.replace(SENT_IDENTITY, sequence=None)),
        ({"sequence": True}, msgspec.structs.replace(SENT_IDENTITY, sequence=None)),
        ({"sequence": 2.0}, msgspec.structs.replace(SENT_IDENTITY, sequence=None)),
    ],
)
def test_only_attributes_of_the_right_type_and_bounds_are_kept(
    changes: dict[str, Any], identity: EventIdentity
) -> None:
    assert rejected(structured(sent_document(**changes))).identity == identity


def test_a_string_sequence_in_the_identity_is_the_integer_it_spells() -> None:
    error = rejected(structured(sent_document(sequence="0002", time="yesterday")))
    assert error.identity == SENT_IDENTITY


@pytest.mark.parametrize("value", [b"not json", b"[1, 2]", b'"text"', b"{", b"\xff\xfe", None, b'{"a":' * 5000])
def test_a_body_that_is_not_a_json_object_has_no_identity(value: bytes | None) -> None:
    assert rejected(value).identity is None


def test_an_object_without_any_identity_attribute_has_none() -> None:
    assert rejected(b'{"specversion": "1.0"}').identity is None


def test_identify_reads_any_message_valid_or_not() -> None:
    assert identify(encode(SENT)) == SENT_IDENTITY
    headers, value = encode_binary(PAID)
    assert identify(value, headers) == PAID_IDENTITY
    assert identify(b"garbage") is None
    assert identify(None) is None


@given(
    st.binary(max_size=200),
    st.lists(
        st.tuples(st.sampled_from(["ce_specversion", "ce_id", "ce_tenantid"]), st.none() | st.binary(max_size=8)),
        max_size=4,
    ),
)
def test_identify_never_raises_and_keeps_only_storable_text(
    value: bytes, headers: list[tuple[str, bytes | None]]
) -> None:
    identity = identify(value, headers)
    if identity is not None:
        for text in (identity.tenantid, identity.id, identity.subject, identity.type):
            assert text is None or (0 < len(text) <= 200 and "\x00" not in text and text.encode())
