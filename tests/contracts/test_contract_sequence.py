"""`sequence` as an integer or a string of ASCII digits, in both modes, with
the same bounds; anything else is a schema violation that says why."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.codec import decode, decode_stored, digit_sequence, encode, encode_binary
from contracts.errors import ContractError, Reason
from contracts.events import MAX_SEQUENCE, InvoiceEvent
from contracts.examples import CREATED, PAID, SENT
from contracts.schema import SCHEMA_DIR, digits_pattern


def structured_with(event: InvoiceEvent, sequence: Any) -> bytes:
    document = msgspec.to_builtins(event)
    document["sequence"] = sequence
    return json.dumps(document).encode()


def binary_with(event: InvoiceEvent, sequence: bytes) -> tuple[bytes, list[tuple[str, bytes | None]]]:
    headers, value = encode_binary(event)
    return value, [(k, sequence if k == "ce_sequence" else v) for k, v in headers]


def rejection(value: bytes, headers: list[tuple[str, bytes | None]] | None = None) -> ContractError:
    with pytest.raises(ContractError) as caught:
        decode(value, headers or ())
    return caught.value


@pytest.mark.parametrize(
    ("text", "number"), [("2", 2), ("02", 2), ("0000000002", 2), (str(MAX_SEQUENCE), MAX_SEQUENCE)]
)
def test_a_structured_sequence_of_ascii_digits_decodes_to_the_integer(text: str, number: int) -> None:
    event = msgspec.structs.replace(SENT, sequence=number)
    assert decode(structured_with(event, text)).event == event


@pytest.mark.parametrize(("text", "number"), [(b"3", 3), (b"003", 3), (str(MAX_SEQUENCE).encode(), MAX_SEQUENCE)])
def test_a_binary_mode_ce_sequence_of_ascii_digits_decodes_to_the_integer(text: bytes, number: int) -> None:
    event = msgspec.structs.replace(PAID, sequence=number)
    assert decode(*binary_with(event, text)).event == event


def test_a_created_event_with_a_string_sequence_keeps_its_amounts() -> None:
    decoded = decode(structured_with(CREATED, "1"))
    assert decoded == decode(encode(CREATED))


def test_an_event_stored_with_a_string_sequence_decodes_from_the_store() -> None:
    body = structured_with(SENT, "2")
    assert decode_stored(body) == decode(encode(SENT))


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("+2", "is not a string of ASCII digits"),
        ("-2", "is not a string of ASCII digits"),
        (" 2", "is not a string of ASCII digits"),
        ("2 ", "is not a string of ASCII digits"),
        ("2.0", "is not a string of ASCII digits"),
        ("2e0", "is not a string of ASCII digits"),
        ("0x2", "is not a string of ASCII digits"),
        ("", "is not a string of ASCII digits"),
        ("٢", "is not a string of ASCII digits"),
        ("²", "is not a string of ASCII digits"),
        ("0", "is out of range: 1 to 2147483647"),
        ("000", "is out of range: 1 to 2147483647"),
        ("2147483648", "is out of range: 1 to 2147483647"),
        ("9" * 5000, "is out of range: 1 to 2147483647"),
    ],
)
def test_a_string_sequence_that_is_not_plain_digits_in_range_is_a_schema_violation_in_both_modes(
    text: str, why: str
) -> None:
    structured = rejection(structured_with(SENT, text))
    assert structured.reason is Reason.SCHEMA_VIOLATION
    assert structured.detail.startswith("sequence: ") and why in structured.detail
    binary = rejection(*binary_with(SENT, text.encode()))
    assert binary.reason is Reason.SCHEMA_VIOLATION
    assert binary.detail.startswith("header ce_sequence: ") and why in binary.detail


@pytest.mark.parametrize(("value", "got"), [(2.0, "float"), (True, "bool"), (None, "null"), ([2], "array")])
def test_a_sequence_of_another_json_type_says_what_is_accepted(value: Any, got: str) -> None:
    error = rejection(structured_with(SENT, value))
    assert error.reason is Reason.SCHEMA_VIOLATION
    assert error.detail == f"Expected `int` or a string of ASCII digits, got `{got}` - at `$.sequence`"


@pytest.mark.parametrize("value", [0, -1, MAX_SEQUENCE + 1, 2**63])
def test_an_integer_sequence_out_of_range_is_still_a_schema_violation(value: int) -> None:
    error = rejection(structured_with(SENT, value))
    assert error.reason is Reason.SCHEMA_VIOLATION and "$.sequence" in error.detail


def test_errors_after_a_string_sequence_are_reported_as_without_it() -> None:
    document = msgspec.to_builtins(SENT)
    document["data"]["sent_at"] = "2026-03-01"
    with_integer = rejection(json.dumps(document).encode())
    document["sequence"] = "2"
    with_string = rejection(json.dumps(document).encode())
    assert (with_string.reason, with_string.detail) == (with_integer.reason, with_integer.detail)


@given(st.text(alphabet="0123456789+- .e٣", max_size=14))
def test_digit_strings_are_accepted_exactly_when_they_spell_an_integer_in_range(text: str) -> None:
    valid = re.fullmatch(r"[0-9]+", text) is not None and 1 <= int(text) <= MAX_SEQUENCE
    try:
        assert digit_sequence(text) == int(text) and valid
    except ValueError:
        assert not valid


@given(st.integers(min_value=-10, max_value=10**11) | st.sampled_from([MAX_SEQUENCE, MAX_SEQUENCE + 1, 10**9]))
def test_the_schema_pattern_matches_exactly_the_digit_strings_the_codec_accepts(number: int) -> None:
    pattern = re.compile(digits_pattern(MAX_SEQUENCE))
    for text in (str(number), "0" + str(number), "00" + str(abs(number))):
        accepted = re.fullmatch(r"[0-9]+", text) is not None and 1 <= int(text) <= MAX_SEQUENCE
        assert (pattern.fullmatch(text) is not None) == accepted, text


@pytest.mark.parametrize("maximum", [1, 7, 10, 19, 20, 99, 100, 305, 1000, 4096])
def test_the_digits_pattern_matches_one_to_the_maximum_and_nothing_else(maximum: int) -> None:
    pattern = re.compile(digits_pattern(maximum))
    assert [n for n in range(maximum * 3 + 20) if (pattern.fullmatch(str(n)) is not None) != (1 <= n <= maximum)] == []


def test_the_json_schemas_accept_the_sequence_as_an_integer_or_a_digit_string() -> None:
    schema = json.loads((SCHEMA_DIR / "invoice.sent.json").read_text("utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    good = json.loads(encode(SENT))
    accepted: list[Any] = [2, "2", "02", MAX_SEQUENCE, str(MAX_SEQUENCE)]
    rejected: list[Any] = [
        0,
        "0",
        "+2",
        "-2",
        " 2",
        "2.0",
        "",
        MAX_SEQUENCE + 1,
        str(MAX_SEQUENCE + 1),
        2.5,
        None,
        True,
    ]
    for sequence in accepted:
        assert list(validator.iter_errors({**good, "sequence": sequence})) == [], sequence
    for sequence in rejected:
        assert list(validator.iter_errors({**good, "sequence": sequence})), sequence
