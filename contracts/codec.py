"""Bytes <-> events, with every check that needs no invoice history.

``decode`` takes a Kafka message value (and its headers) and returns a
``Decoded`` event or raises ``ContractError`` with the reason to quarantine it.
It never raises anything else, whatever the bytes.

Both CloudEvents Kafka protocol binding modes are accepted:

- structured (the default, what ``encode`` writes): the value is the whole
  event as JSON, content-type ``application/cloudevents+json``;
- binary (when a ``ce_specversion`` header is present): attributes in
  ``ce_<name>`` headers as UTF-8 strings (``ce_sequence`` a decimal string),
  ``content-type`` is ``datacontenttype``, the value is ``data`` as JSON.

A binary message is turned into the structured JSON document and decoded by the
same decoder, so both modes have exactly the same rules and error paths.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any, assert_never

import msgspec

from contracts.amounts import InvoiceAmounts, invoice_amounts
from contracts.errors import ContractError, Reason, quoted
from contracts.events import (
    EVENT_TYPES,
    InvoiceCreated,
    InvoiceEvent,
    InvoicePaid,
    InvoiceSent,
    InvoiceVoided,
)
from contracts.money import decimal_sign

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
DATA_CONTENT_TYPE = "application/json"
SPECVERSION = "1.0"

_decoder = msgspec.json.Decoder(InvoiceEvent)
# Only on the error path: tells malformed JSON from a schema violation.
_untyped_decoder = msgspec.json.Decoder()
# Checks that a binary-mode value is exactly one JSON value before it is
# spliced into a document.
_raw_decoder = msgspec.json.Decoder(msgspec.Raw)
_encoder = msgspec.json.Encoder()

_HEADER_PREFIX = "ce_"
_CONTENT_TYPE_HEADER = "content-type"
# msgspec reports a tag value that names no event type as
# "Invalid value 'x' - at `$.type`" (other bad values say "Invalid enum value").
_UNKNOWN_TAG_SUFFIX = " - at `$.type`"


class Decoded(msgspec.Struct, frozen=True):
    """A valid event; ``amounts`` is set for invoice.created only."""

    event: InvoiceEvent
    amounts: InvoiceAmounts | None


def decode(value: bytes | None, headers: Sequence[tuple[str, bytes | None]] = ()) -> Decoded:
    """Decode and validate one Kafka message; ContractError if it can never apply."""
    document = _binary_document(value, headers) if headers else None
    if document is None:
        if value is None:
            raise ContractError(Reason.MALFORMED, "the message has no value")
        document = value
    try:
        # msgspec skips unknown fields without reading them, invalid UTF-8
        # included; the whole message must be UTF-8 (an ASCII scan is cheap).
        if not document.isascii():
            document.decode()
        event = _decoder.decode(document)
    except msgspec.ValidationError as exc:
        raise _classify(document, exc) from exc
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise _malformed(exc) from exc
    return Decoded(event=event, amounts=_validate(event, document))


def decode_stored(body: bytes) -> Decoded:
    """Decode an event-store body: structured JSON that ``decode`` accepted
    when it was appended, so only the amounts are worked out again (a replay
    spent a sixth of its time re-checking the rest)."""
    event = _decoder.decode(body)
    match event:
        case InvoiceCreated():
            return Decoded(event=event, amounts=invoice_amounts(event.data))
        case InvoiceSent() | InvoicePaid() | InvoiceVoided():
            return Decoded(event=event, amounts=None)
        case _:
            assert_never(event)


def encode(event: InvoiceEvent) -> bytes:
    """The structured-mode JSON of ``event`` (the Kafka message value)."""
    return _encoder.encode(event)


def encode_binary(event: InvoiceEvent) -> tuple[list[tuple[str, bytes]], bytes]:
    """Binary mode: ``ce_*`` headers plus ``content-type``, and ``data`` as JSON."""
    attributes = msgspec.to_builtins(event)
    del attributes["data"]
    content_type = attributes.pop("datacontenttype", DATA_CONTENT_TYPE)
    headers = [(_HEADER_PREFIX + name, str(attribute).encode()) for name, attribute in attributes.items()]
    headers.append((_CONTENT_TYPE_HEADER, content_type.encode()))
    return headers, _encoder.encode(event.data)


def _binary_document(value: bytes | None, headers: Sequence[tuple[str, bytes | None]]) -> bytes | None:
    """The structured JSON of a binary-mode message; None if it is not one."""
    # Attribute headers are only read once ce_specversion says the message is
    # in binary mode: a structured message's stray ce_* headers are ignored.
    found: list[tuple[str, str, bytes | None]] = []
    for key, raw in headers:
        if key.startswith(_HEADER_PREFIX):
            found.append((key[len(_HEADER_PREFIX) :], key, raw))
        elif key.lower() == _CONTENT_TYPE_HEADER:
            found.append(("datacontenttype", key, raw))
    if not any(name == "specversion" for name, _, _ in found):
        return None
    attributes: dict[str, str | int] = {}
    for name, key, raw in found:
        if name in attributes:
            raise ContractError(Reason.SCHEMA_VIOLATION, f"header {key}: given more than once")
        if raw is None:
            raise ContractError(Reason.SCHEMA_VIOLATION, f"header {key}: has no value")
        try:
            text = raw.decode()
        except UnicodeDecodeError as exc:
            raise ContractError(Reason.MALFORMED, f"header {key}: not UTF-8 ({exc.reason})") from exc
        attributes[name] = _sequence(text) if name == "sequence" else text
    # The value is the data; a ce_data header cannot replace it.
    attributes.pop("data", None)
    document = _encoder.encode(attributes)
    if value is None:
        return document  # decoding reports the missing data
    try:
        _raw_decoder.decode(value)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise ContractError(Reason.MALFORMED, f"data: the message value is not one JSON value ({exc})") from exc
    return b"".join((document[:-1], b',"data":', value, b"}"))


def _sequence(text: str) -> int:
    # 10 digits cover every allowed sequence; longer strings are out of range
    # anyway and would only make int() slow.
    if not (text.isascii() and text.isdigit() and len(text) <= 10):
        raise ContractError(
            Reason.SCHEMA_VIOLATION,
            f"header ce_sequence: {quoted(text)} is not a decimal integer >= 1",
        )
    return int(text)


def _classify(document: bytes, exc: msgspec.ValidationError) -> ContractError:
    """The reason for a typed-decoding failure.

    The typed decoder stops at the first problem, which may come before a
    syntax error further on, so a full untyped parse decides whether the
    document is JSON at all.
    """
    try:
        parsed = _untyped_decoder.decode(document)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as malformed:
        return _malformed(malformed)
    if not isinstance(parsed, dict):
        return ContractError(Reason.MALFORMED, f"not a JSON object but a {type(parsed).__name__}")
    message = str(exc)
    if message.startswith("Invalid value ") and message.endswith(_UNKNOWN_TAG_SUFFIX):
        return ContractError(
            Reason.UNKNOWN_TYPE,
            f"{message}; known types: {', '.join(EVENT_TYPES)}",
        )
    return ContractError(Reason.SCHEMA_VIOLATION, message)


def _malformed(exc: Exception) -> ContractError:
    if isinstance(exc, UnicodeDecodeError):
        return ContractError(Reason.MALFORMED, f"not UTF-8 ({exc.reason})")
    if isinstance(exc, RecursionError):
        return ContractError(Reason.MALFORMED, "JSON nested too deeply")
    return ContractError(Reason.MALFORMED, str(exc))


def _validate(event: InvoiceEvent, document: bytes) -> InvoiceAmounts | None:
    """The checks msgspec's types cannot express; amounts of a created invoice."""
    if event.specversion != SPECVERSION:
        raise ContractError(
            Reason.UNSUPPORTED_SPECVERSION,
            f"specversion: {quoted(event.specversion)}, only {SPECVERSION!r} is supported",
        )
    content_type = event.datacontenttype
    if content_type is not None and not _is_json(content_type):
        raise ContractError(
            Reason.SCHEMA_VIOLATION,
            f"datacontenttype: {quoted(content_type)}, data must be {DATA_CONTENT_TYPE}",
        )
    # JSON may spell NUL as \u0000, which no PostgreSQL text column stores. The
    # byte search is cheap; the walk runs only when an escape is there.
    if b"\\u0000" in document:
        _reject_nul(event, "")
    _check_utc(event.time, "time")
    match event:
        case InvoiceCreated():
            return invoice_amounts(event.data)
        case InvoiceSent():
            _check_utc(event.data.sent_at, "data.sent_at")
        case InvoicePaid():
            # The currency lives on the created event, so the fold converts the
            # amount; its grammar and sign need no history.
            if decimal_sign(event.data.amount, field="data.amount") <= 0:
                raise ContractError(
                    Reason.NEGATIVE_AMOUNT,
                    f"data.amount: {quoted(event.data.amount)} must be > 0",
                )
            _check_utc(event.data.paid_at, "data.paid_at")
        case InvoiceVoided():
            _check_utc(event.data.voided_at, "data.voided_at")
        case _:
            assert_never(event)
    return None


def _is_json(content_type: str) -> bool:
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == DATA_CONTENT_TYPE or media_type.endswith("+json")


def _check_utc(moment: datetime.datetime, field: str) -> None:
    """A timestamp must have a UTC instant: 0001-01-01T00:00+01:00 has none."""
    if 1 < moment.year < 9999:
        return
    try:
        moment.astimezone(datetime.UTC)
    except OverflowError as exc:
        raise ContractError(
            Reason.SCHEMA_VIOLATION,
            f"{field}: {moment.isoformat()} is out of range in UTC",
        ) from exc


def _reject_nul(value: Any, path: str) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ContractError(Reason.SCHEMA_VIOLATION, f"{path}: contains a NUL character")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _reject_nul(item, f"{path}[{index}]")
    elif isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            _reject_nul(getattr(value, name), f"{path}.{name}" if path else name)
